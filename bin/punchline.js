#!/usr/bin/env node
// Runs the built CLI (dist/ is produced by `npm ci` through the prepare script).
import '../dist/cli/main.js'
