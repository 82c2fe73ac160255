import { defineConfig } from 'vitest/config'

/** Vite's default conditions for code that runs in Node, after our own. */
const conditions = ['@punchline/source', 'module', 'node', 'development|production']

export default defineConfig({
  // The workspace packages (@punchline/protocol, @punchline/sdk) resolve to their
  // TypeScript sources in tests, as in the type check; node resolves them to dist/.
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // In CI, also write machine-readable results: .ci/run prints its summary from them.
    reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-artifacts/vitest.json' }
  }
})
