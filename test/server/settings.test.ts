import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { ConfigError, SETTINGS, checkSettings, resolveConfig, settingsUsage } from '../../server/settings.js'
import { buildApp } from '../../server/app.js'
import { tempDatabasePath } from '../helpers.js'

describe('the settings table', () => {
  it('defaults to every interface, port 8080 and ./data/punchline.db', () => {
    const config = resolveConfig({}, {}, '/srv/app')
    expect(config).toMatchObject({ host: '::', port: 8080, databasePath: '/srv/app/data/punchline.db', logLevel: 'info' })
  })

  it('reads API keys as a comma-separated list', () => {
    expect(resolveConfig({ apiKeys: ' first-key-0123456789 , second-key-0123456789,' }, {}).apiKeys).toEqual(['first-key-0123456789', 'second-key-0123456789'])
    expect(resolveConfig({}, {}).apiKeys).toEqual([])
  })

  it('takes the mapping port as a number or a keyword, beside --port by default', () => {
    expect(resolveConfig({}, {}).mappingPort).toBe('next')
    expect(resolveConfig({ mappingPort: '9001' }, {}).mappingPort).toBe(9001)
    expect(resolveConfig({}, { PUNCHLINE_MAPPING_PORT: 'off' }).mappingPort).toBe('off')
    expect(resolveConfig({ port: '0', mappingPort: '0' }, {}).mappingPort).toBe(0)
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
    [{ headersTimeoutSeconds: '40' }, /--headers-timeout \(PUNCHLINE_HEADERS_TIMEOUT\) \(40\) must not be longer than --request-timeout/],
    [{ mappingPort: 'sometimes' }, /--mapping-port \(PUNCHLINE_MAPPING_PORT\) must be a port from 0 to 65535, "next" or "off", got "sometimes"/],
    [{ mappingPort: '65536' }, /--mapping-port .* got "65536"/],
    [{ port: '9000', mappingPort: '9000' }, /--mapping-port \(PUNCHLINE_MAPPING_PORT\) \(9000\) must not be --port/]
  ])('refuses %o with a precise message', (flags, message) => {
    expect(() => resolveConfig(flags, {})).toThrow(ConfigError)
    expect(() => resolveConfig(flags, {})).toThrow(message)
  })
})

describe('buildApp', () => {
  it.each([
    [{ maxPollWaitSeconds: 0 }, 'maxPollWaitSeconds must be an integer from 1 to 60, got 0'],
    [{ rateLimitPerPeer: 1.5 }, 'rateLimitPerPeer must be an integer from 1 to 100000000, got 1.5'],
    [{ apiKeys: ['short'] }, 'apiKeys takes comma-separated keys of at least 16 printable characters'],
    [{ headersTimeoutSeconds: 40 }, '(40) must not be longer than']
  ])('refuses %o, as the flag and the environment variable would be refused', async (options, message) => {
    await expect(buildApp({ databasePath: tempDatabasePath(), ...options })).rejects.toThrow(message)
  })

  it('takes in-range settings and leaves out ones given as undefined at their defaults', () => {
    expect(() => { checkSettings({ maxPollWaitSeconds: 1, introductionTtlSeconds: undefined }) }).not.toThrow()
  })
})

describe('every setting, declared once', () => {
  it('appears in `punchline serve --help` with its flag, environment variable and default', () => {
    const usage = settingsUsage().replace(/\n {30}/g, ' ')
    for (const setting of Object.values(SETTINGS)) {
      expect(usage).toContain(`--${setting.flag} ${setting.metavar}`)
      expect(usage).toContain(`(${setting.env}, default ${setting.default === undefined || Array.isArray(setting.default) ? 'none' : String(setting.default)})`)
    }
  })

  it('has a row in the README\'s configuration table with the same flag, variable and default', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const rows = new Map([...readme.matchAll(/^\| `--([a-z0-9-]+)` \| `([A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((match) => [match[1], { env: match[2], shown: match[3]!.trim() }]))
    for (const setting of Object.values(SETTINGS)) {
      const row = rows.get(setting.flag)
      expect(row, `README row for --${setting.flag}`).toBeDefined()
      expect(row!.env).toBe(setting.env)
      expect(row!.shown).toBe(setting.default === undefined || Array.isArray(setting.default) ? 'none' : `\`${String(setting.default)}\``)
    }
    expect(rows.size).toBe(Object.keys(SETTINGS).length)
  })
})
