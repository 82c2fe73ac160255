// punchline/server: run the rendezvous server inside your own program.
// `startServer(resolveConfig({...}))` is what `punchline serve` does;
// `buildApp` gives the Fastify app without listening (for tests, or to add
// your own routes and hooks before listening).
export { buildApp, type AppOptions } from './app.js'
export { startServer, closeOnSignals } from './main.js'
export { resolveConfig, ConfigError, SETTINGS, type ServerConfig } from './settings.js'
export { errors, type ErrorBody, type PunchErrorCode } from './errors.js'
