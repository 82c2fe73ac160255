import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_HOST, DEFAULT_PORT, resolveConfig } from '../../server/config.js'

describe('resolveConfig', () => {
  it('defaults to every interface, port 8080 and ./data/punchline.db', () => {
    const config = resolveConfig({}, {}, '/srv/app')
    expect(config).toMatchObject({ host: DEFAULT_HOST, port: DEFAULT_PORT, databasePath: '/srv/app/data/punchline.db', logLevel: 'info' })
    expect(DEFAULT_HOST).toBe('::')
  })

  it('reads API keys as a comma-separated list', () => {
    expect(resolveConfig({ apiKeys: ' first-key-0123456789 , second-key-0123456789,' }, {}).apiKeys).toEqual(['first-key-0123456789', 'second-key-0123456789'])
    expect(resolveConfig({}, {}).apiKeys).toEqual([])
  })

  it('takes environment variables, and flags over them', () => {
    const env = { PUNCHLINE_HOST: '127.0.0.1', PUNCHLINE_PORT: '9000', PUNCHLINE_DB: '/var/lib/p.db', PUNCHLINE_INTRODUCTION_TTL: '45' }
    expect(resolveConfig({}, env, '/x')).toMatchObject({ host: '127.0.0.1', port: 9000, databasePath: '/var/lib/p.db', introductionTtlSeconds: 45 })
    expect(resolveConfig({ port: '9001', databasePath: 'rel/p.db' }, env, '/x')).toMatchObject({ port: 9001, databasePath: path.resolve('/x', 'rel/p.db') })
  })

  it.each([
    [{ port: '70000' }, /--port \(PUNCHLINE_PORT\) must be an integer from 0 to 65535, got "70000"/],
    [{ port: 'http' }, /--port .* got "http"/],
    [{ logLevel: 'loud' }, /--log-level .* must be one of/],
    [{ introductionTtlSeconds: '1' }, /--introduction-ttl .* from 5 to 3600/],
    [{ bodyLimitBytes: '10' }, /--body-limit .* from 1024/],
    [{ apiKeys: 'short' }, /--api-keys \(PUNCHLINE_API_KEYS\) takes comma-separated keys of at least 16/],
    [{ maxPendingIntroductions: '0' }, /--max-pending-introductions .* from 1/],
    [{ headersTimeoutSeconds: '40' }, /--headers-timeout \(PUNCHLINE_HEADERS_TIMEOUT\) \(40\) must not be longer than --request-timeout/]
  ])('refuses %o with a precise message', (flags, message) => {
    expect(() => resolveConfig(flags, {})).toThrow(ConfigError)
    expect(() => resolveConfig(flags, {})).toThrow(message)
  })
})
