import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Network-namespace suites share host-wide state (iptables, namespaces): one file at a time there.
    fileParallelism: true,
    reporters: process.env.CI === 'true' ? ['default', 'junit'] : ['default'],
    outputFile: { junit: 'test-artifacts/junit.xml' }
  }
})
