// Every setting of the rendezvous server, declared once: flag, environment
// variable, default, bounds and help. Reading them (flags over environment
// over defaults), `punchline serve`'s options and usage text, and buildApp's
// own check of the options it is given all come from this table.
import path from 'node:path'
import { POLL_WAIT_SECONDS } from '@punchline/protocol/limits'
import { isPostgresUrl } from './db/url.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]
export const MIN_API_KEY_LENGTH = 16

interface Declared {
  /** `--flag` of `punchline serve`. */
  flag: string
  env: string
  /** What the flag's value is called in the usage text, e.g. "S" or "N". */
  metavar: string
  help: string
}
interface IntegerSetting extends Declared { kind: 'integer', default: number, min: number, max: number }
interface TextSetting extends Declared { kind: 'text', default: string }
interface ChoiceSetting<C extends string> extends Declared { kind: 'choice', default: C, choices: readonly C[] }
interface KeyListSetting extends Declared { kind: 'keys', default: readonly string[] }
/** A file that is read at start (and again on SIGHUP); none by default. */
interface FileSetting extends Declared { kind: 'file', default: undefined }
/** A secret of the deployment, none by default: at least MIN_API_KEY_LENGTH printable characters. */
interface SecretSetting extends Declared { kind: 'secret', default: undefined }
/** A second listening port: a port number (0: any free port), or one of the keywords. */
interface PortChoiceSetting extends Declared { kind: 'port-choice', default: typeof PORT_KEYWORDS[number], keywords: typeof PORT_KEYWORDS }
type Setting = IntegerSetting | TextSetting | ChoiceSetting<string> | KeyListSetting | FileSetting | SecretSetting | PortChoiceSetting

/** `next`: the port after --port (any free port when --port is 0); `off`: none. */
export const PORT_KEYWORDS = ['next', 'off'] as const

const integer = (declared: Omit<IntegerSetting, 'kind'>): IntegerSetting => ({ kind: 'integer', ...declared })

export const RELAY_SWITCHES = ['on', 'off'] as const
/*
 * The relay's bounds. It carries the connections of pairs that cannot punch
 * (a NAT with a new port per connection): whole tunnels for as long as they
 * run, unlike go-libp2p's circuit relay v2, whose default "limited" relay
 * only bridges the hole-punching exchange (2 min, 128 KiB per direction).
 * So the defaults bound a rate and a lifetime, not a total, and leave room
 * for the way the SDK uses it (a tunnel, plus a few raw connections).
 */
/** A peer rarely needs more: `punchline forward` keeps at most 2 tunnels, each one relayed connection. */
const RELAY_MAX_PER_PEER = 8
/** Each holds at most ~256 KiB of buffers (128 KiB measured per direction whose reader stalls): 256 MiB in all at worst. */
const RELAY_MAX_TOTAL = 1024
/**
 * 1 MiB/s (8 Mbit/s) each way: interactive sessions, SSH and a video call fit;
 * bulk transfers belong on a direct path. At the total bound that is still
 * more than one server's uplink, which then shares itself out by TCP.
 */
const RELAY_BYTES_PER_SECOND = 1024 * 1024
/**
 * 5 min without a byte either way. A tunnel PINGs every 25 s, so only an
 * abandoned connection (or a silent raw one) goes; TCP keepalive carries no bytes.
 */
const RELAY_IDLE_TIMEOUT_SECONDS = 300
/**
 * A day: a relayed connection outlives the registrations that attached it,
 * and this bounds by how much, without cutting a working session often.
 */
const RELAY_MAX_LIFETIME_SECONDS = 24 * 3600
/**
 * A side waits this long for the other: peers fall back to the relay when
 * their own punch gives up, and the two learn of an introduction up to a
 * poll round trip apart, one perhaps at once, the other after a whole 10 s
 * punch timeout.
 */
const RELAY_PEER_WAIT_SECONDS = 20

export const SETTINGS = {
  host: { kind: 'text', flag: 'host', env: 'PUNCHLINE_HOST', metavar: 'HOST', default: '::', help: 'address to listen on ("::" is every interface, IPv4 and IPv6); use 127.0.0.1 for this machine only' },
  port: integer({ flag: 'port', env: 'PUNCHLINE_PORT', metavar: 'PORT', default: 8080, min: 0, max: 65535, help: 'TCP port (0: any free port)' }),
  mappingPort: {
    kind: 'port-choice',
    flag: 'mapping-port',
    env: 'PUNCHLINE_MAPPING_PORT',
    metavar: 'PORT|next|off',
    default: 'next',
    keywords: PORT_KEYWORDS,
    help: 'second TCP port, on the same address, where peers probe their NAT\'s mapping (endpoint-independent or not); "next": --port + 1, run without it (logged) if that port is taken; "off": none (mappings stay unknown); 0: any free port'
  } satisfies PortChoiceSetting,
  databasePath: { kind: 'text', flag: 'db', env: 'PUNCHLINE_DB', metavar: 'FILE|URL', default: './data/punchline.db', help: 'SQLite database file, created and migrated if missing (relative to the working directory), or postgresql://USER@HOST/DB for several instances on one database (migrated at start)' },
  logLevel: { kind: 'choice', flag: 'log-level', env: 'PUNCHLINE_LOG_LEVEL', metavar: 'LEVEL', default: 'info', choices: LOG_LEVELS, help: `${LOG_LEVELS.join('|')} (JSON lines on stdout)` } satisfies ChoiceSetting<LogLevel>,
  introductionTtlSeconds: integer({ flag: 'introduction-ttl', env: 'PUNCHLINE_INTRODUCTION_TTL', metavar: 'S', default: 30, min: 5, max: 3600, help: 'seconds an introduction stays deliverable' }),
  sweepIntervalSeconds: integer({ flag: 'sweep-interval', env: 'PUNCHLINE_SWEEP_INTERVAL', metavar: 'S', default: 30, min: 1, max: 3600, help: 'seconds between deletions of expired rows' }),
  bodyLimitBytes: integer({ flag: 'body-limit', env: 'PUNCHLINE_BODY_LIMIT', metavar: 'BYTES', default: 16 * 1024, min: 1024, max: 1024 * 1024, help: 'largest request body (larger: 413)' }),
  maxPendingIntroductions: integer({ flag: 'max-pending-introductions', env: 'PUNCHLINE_MAX_PENDING_INTRODUCTIONS', metavar: 'N', default: 64, min: 1, max: 100_000, help: 'unacknowledged introductions one peer\'s inbox holds; more get 429 with Retry-After' }),
  maxRegistrationsPerAddress: integer({ flag: 'max-registrations-per-address', env: 'PUNCHLINE_MAX_REGISTRATIONS_PER_ADDRESS', metavar: 'N', default: 256, min: 0, max: 10_000_000, help: 'live registrations from one public address (a NAT fronts many peers); more get 429 with Retry-After; 0: no bound (nothing counted)' }),
  rateLimitPerAddress: integer({ flag: 'rate-limit-per-address', env: 'PUNCHLINE_RATE_LIMIT_PER_ADDRESS', metavar: 'N', default: 1200, min: 1, max: 100_000_000, help: 'requests a minute from one source address, every route; more get 429 with Retry-After' }),
  rateLimitPerPeer: integer({ flag: 'rate-limit-per-peer', env: 'PUNCHLINE_RATE_LIMIT_PER_PEER', metavar: 'N', default: 300, min: 1, max: 100_000_000, help: 'requests a minute from one authenticated peer, from any address; more get 429 with Retry-After' }),
  apiKeys: { kind: 'keys', flag: 'api-keys', env: 'PUNCHLINE_API_KEYS', metavar: 'K1,K2', default: [], help: `comma-separated keys (at least ${MIN_API_KEY_LENGTH} printable characters each); when set, registering needs one in an X-API-Key header` },
  headersTimeoutSeconds: integer({ flag: 'headers-timeout', env: 'PUNCHLINE_HEADERS_TIMEOUT', metavar: 'S', default: 10, min: 1, max: 600, help: 'seconds a client has to send a request\'s headers (slowloris); then 408' }),
  requestTimeoutSeconds: integer({ flag: 'request-timeout', env: 'PUNCHLINE_REQUEST_TIMEOUT', metavar: 'S', default: 30, min: 1, max: 3600, help: 'seconds a client has to send a whole request (a held long-poll is not cut)' }),
  introductionsPerTarget: integer({ flag: 'introductions-per-target', env: 'PUNCHLINE_INTRODUCTIONS_PER_TARGET', metavar: 'N', default: 60, min: 1, max: 1_000_000, help: 'introductions to one peer a minute, from everyone; more get 429 with Retry-After' }),
  introductionsPerPair: integer({ flag: 'introductions-per-pair', env: 'PUNCHLINE_INTRODUCTIONS_PER_PAIR', metavar: 'N', default: 6, min: 1, max: 1_000_000, help: 'introductions of one peer to another a minute; more get 429 with Retry-After' }),
  introductionsPerAddressAndTarget: integer({ flag: 'introductions-per-address-and-target', env: 'PUNCHLINE_INTRODUCTIONS_PER_ADDRESS_AND_TARGET', metavar: 'N', default: 12, min: 1, max: 1_000_000, help: 'introductions to one peer a minute from one source address (IPv6: one prefix), whatever ids it uses; more get 429 with Retry-After' }),
  maxConnections: integer({ flag: 'max-connections', env: 'PUNCHLINE_MAX_CONNECTIONS', metavar: 'N', default: 150_000, min: 1, max: 10_000_000, help: 'TCP connections at once, in total; more are closed at once' }),
  maxConnectionsPerAddress: integer({ flag: 'max-connections-per-address', env: 'PUNCHLINE_MAX_CONNECTIONS_PER_ADDRESS', metavar: 'N', default: 1024, min: 1, max: 10_000_000, help: 'TCP connections at once from one source address (IPv6: one prefix); more are closed at once' }),
  ipv6PrefixLength: integer({ flag: 'ipv6-prefix-length', env: 'PUNCHLINE_IPV6_PREFIX_LENGTH', metavar: 'BITS', default: 64, min: 32, max: 128, help: 'IPv6 sources count as one address per prefix of this length, for every per-address limit (a host usually has a whole /64)' }),
  tlsCert: { kind: 'file', flag: 'tls-cert', env: 'PUNCHLINE_TLS_CERT', metavar: 'FILE', default: undefined, help: 'serve HTTPS with this certificate chain (PEM), read again on SIGHUP; needs --tls-key' },
  tlsKey: { kind: 'file', flag: 'tls-key', env: 'PUNCHLINE_TLS_KEY', metavar: 'FILE', default: undefined, help: 'the private key (PEM) of --tls-cert' },
  metricsToken: { kind: 'secret', flag: 'metrics-token', env: 'PUNCHLINE_METRICS_TOKEN', metavar: 'TOKEN', default: undefined, help: `when set, /metrics and /v1/stats/* need it as "Authorization: Bearer TOKEN" (at least ${MIN_API_KEY_LENGTH} printable characters)` },
  livenessWriteIntervalSeconds: integer({ flag: 'liveness-write-interval', env: 'PUNCHLINE_LIVENESS_WRITE_INTERVAL', metavar: 'S', default: 5, min: 1, max: 10, help: 'seconds between writes of peers\' liveness and observed endpoints, kept in memory meanwhile; a crash shortens registrations by at most this (under the 15 s shortest TTL)' }),
  idReservationDays: integer({ flag: 'id-reservation-days', env: 'PUNCHLINE_ID_RESERVATION_DAYS', metavar: 'DAYS', default: 30, min: 0, max: 3650, help: 'days an id registered with a key stays reserved for that key after its registration ends (0: freed at once)' }),
  maxPollWaitSeconds: integer({ flag: 'max-poll-wait', env: 'PUNCHLINE_MAX_POLL_WAIT', metavar: 'S', default: POLL_WAIT_SECONDS.max, min: 1, max: POLL_WAIT_SECONDS.max, help: `longest a long-poll is held (1-${POLL_WAIT_SECONDS.max}); a longer wait is answered, empty, at this bound` }),
  relay: { kind: 'choice', flag: 'relay', env: 'PUNCHLINE_RELAY', metavar: 'on|off', default: 'on', choices: RELAY_SWITCHES, help: 'relay the connections of peers that cannot punch, on this port (off: 403 PUNCH_ERR_RELAY_DISABLED)' } satisfies ChoiceSetting<typeof RELAY_SWITCHES[number]>,
  relayMaxPerPeer: integer({ flag: 'relay-max-per-peer', env: 'PUNCHLINE_RELAY_MAX_PER_PEER', metavar: 'N', default: RELAY_MAX_PER_PEER, min: 1, max: 1_000_000, help: 'relayed connections one peer has at once (attached, waiting or spliced); more get 429 PUNCH_ERR_RELAY_LIMITED' }),
  relayMaxTotal: integer({ flag: 'relay-max-total', env: 'PUNCHLINE_RELAY_MAX_TOTAL', metavar: 'N', default: RELAY_MAX_TOTAL, min: 1, max: 10_000_000, help: 'relayed connections at once, in total; more get 429 PUNCH_ERR_RELAY_LIMITED' }),
  relayBytesPerSecond: integer({ flag: 'relay-rate', env: 'PUNCHLINE_RELAY_RATE', metavar: 'BYTES', default: RELAY_BYTES_PER_SECOND, min: 1024, max: 2 ** 40, help: 'bytes a second each relayed connection carries in each direction; a faster sender is slowed (TCP backpressure), never cut' }),
  relayIdleTimeoutSeconds: integer({ flag: 'relay-idle-timeout', env: 'PUNCHLINE_RELAY_IDLE_TIMEOUT', metavar: 'S', default: RELAY_IDLE_TIMEOUT_SECONDS, min: 1, max: 7 * 24 * 3600, help: 'seconds a relayed connection may carry no byte either way; then both sides are reset' }),
  relayMaxLifetimeSeconds: integer({ flag: 'relay-max-lifetime', env: 'PUNCHLINE_RELAY_MAX_LIFETIME', metavar: 'S', default: RELAY_MAX_LIFETIME_SECONDS, min: 1, max: 30 * 24 * 3600, help: 'seconds a relayed connection may last; then both sides are reset' }),
  relayPeerWaitSeconds: integer({ flag: 'relay-peer-wait', env: 'PUNCHLINE_RELAY_PEER_WAIT', metavar: 'S', default: RELAY_PEER_WAIT_SECONDS, min: 1, max: 600, help: 'seconds the first side of a relayed connection waits for the second; then it is disconnected' })
} as const satisfies Record<string, Setting>

export type SettingName = keyof typeof SETTINGS
type ValueOf<S> = S extends PortChoiceSetting ? number | typeof PORT_KEYWORDS[number] : S extends IntegerSetting ? number : S extends ChoiceSetting<infer C> ? C : S extends KeyListSetting ? string[] : S extends FileSetting | SecretSetting ? string | undefined : string
export type ServerConfig = { [Name in SettingName]: ValueOf<(typeof SETTINGS)[Name]> }
/** The settings that shape the app (the rest say where it listens and logs). */
export type AppSettings = Omit<ServerConfig, 'host' | 'port' | 'mappingPort' | 'databasePath' | 'logLevel' | 'tlsCert' | 'tlsKey'>

export class ConfigError extends Error {
  readonly code = 'PUNCH_ERR_CONFIG'
}

const ENTRIES = Object.entries(SETTINGS) as Array<[SettingName, Setting]>

function label (setting: Setting): string {
  return `--${setting.flag} (${setting.env})`
}

/** The value of one setting from its text form (flag or environment variable). */
function parse (setting: Setting, raw: string): unknown {
  switch (setting.kind) {
    case 'integer': return Number(raw.trim() === '' ? NaN : raw)
    case 'keys': return raw.split(',').map((key) => key.trim()).filter(Boolean)
    case 'port-choice': return (setting.keywords as readonly string[]).includes(raw.trim()) ? raw.trim() : Number(raw.trim() === '' ? NaN : raw)
    default: return raw
  }
}

/** Why `value` is not a valid value of the setting, or undefined when it is. */
function problemWith (setting: Setting, value: unknown): string | undefined {
  switch (setting.kind) {
    case 'integer':
      return Number.isInteger(value) && (value as number) >= setting.min && (value as number) <= setting.max
        ? undefined
        : `must be an integer from ${setting.min} to ${setting.max}`
    case 'choice':
      return setting.choices.includes(value as string) ? undefined : `must be one of ${setting.choices.join(', ')}`
    case 'port-choice':
      return (setting.keywords as readonly unknown[]).includes(value) || (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535)
        ? undefined
        : `must be a port from 0 to 65535, ${setting.keywords.map((keyword) => `"${keyword}"`).join(' or ')}`
    case 'keys':
      return Array.isArray(value) && value.every((key) => typeof key === 'string' && key.length >= MIN_API_KEY_LENGTH && /^[\x21-\x7e]+$/.test(key))
        ? undefined
        : `takes comma-separated keys of at least ${MIN_API_KEY_LENGTH} printable characters; one is not`
    case 'text':
    case 'file':
      return typeof value === 'string' && value !== '' ? undefined : 'must not be empty'
    case 'secret':
      return typeof value === 'string' && value.length >= MIN_API_KEY_LENGTH && /^[\x21-\x7e]+$/.test(value) ? undefined : `must be at least ${MIN_API_KEY_LENGTH} printable characters`
  }
}

/** What the settings require of each other. */
function checkTogether (config: Partial<ServerConfig>): void {
  const headers = config.headersTimeoutSeconds ?? SETTINGS.headersTimeoutSeconds.default
  const request = config.requestTimeoutSeconds ?? SETTINGS.requestTimeoutSeconds.default
  if (headers > request) {
    throw new ConfigError(`${label(SETTINGS.headersTimeoutSeconds)} (${headers}) must not be longer than ${label(SETTINGS.requestTimeoutSeconds)} (${request})`)
  }
  if (typeof config.mappingPort === 'number' && config.mappingPort !== 0 && config.mappingPort === (config.port ?? SETTINGS.port.default)) {
    throw new ConfigError(`${label(SETTINGS.mappingPort)} (${config.mappingPort}) must not be ${label(SETTINGS.port)}: the mapping is seen from a second port`)
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(`${label(SETTINGS.tlsCert)} and ${label(SETTINGS.tlsKey)} go together: give both or neither`)
  }
}

/** Settings given as text: flags (by setting name) over environment variables over defaults. */
export type RawSettings = Partial<Record<SettingName, string | undefined>>

export function resolveConfig (flags: RawSettings = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ServerConfig {
  const config: Record<string, unknown> = {}
  for (const [name, setting] of ENTRIES) {
    const raw = flags[name] ?? env[setting.env]
    if (raw === undefined || raw === '') {
      config[name] = setting.default
      continue
    }
    const value = parse(setting, raw)
    const problem = problemWith(setting, value)
    if (problem !== undefined) throw new ConfigError(`${label(setting)} ${problem}, got "${setting.kind === 'keys' || setting.kind === 'secret' ? '…' : raw}"`)
    config[name] = value
  }
  const resolved = config as ServerConfig
  if (!isPostgresUrl(resolved.databasePath)) resolved.databasePath = path.resolve(cwd, resolved.databasePath)
  if (resolved.tlsCert !== undefined) resolved.tlsCert = path.resolve(cwd, resolved.tlsCert)
  if (resolved.tlsKey !== undefined) resolved.tlsKey = path.resolve(cwd, resolved.tlsKey)
  checkTogether(resolved)
  return resolved
}

/** Checks settings given as values (buildApp's options): every bad one is refused, none is silently kept. */
export function checkSettings (settings: Partial<ServerConfig>): void {
  for (const [name, setting] of ENTRIES) {
    const value = settings[name]
    if (value === undefined) continue
    const problem = problemWith(setting, value)
    if (problem !== undefined) throw new ConfigError(`${name} ${problem}, got ${setting.kind === 'keys' || setting.kind === 'secret' ? 'a bad secret' : JSON.stringify(value)}`)
  }
  checkTogether(settings)
}

/** parseArgs options of `punchline serve`: one string option per setting. */
export function settingFlags (): Record<string, { type: 'string' }> {
  return Object.fromEntries(ENTRIES.map(([, setting]) => [setting.flag, { type: 'string' as const }]))
}

/** Flag values from parseArgs, keyed by setting name. */
export function settingsFromFlags (values: Record<string, unknown>): RawSettings {
  return Object.fromEntries(ENTRIES.map(([name, setting]) => [name, values[setting.flag] as string | undefined]))
}

const USAGE_INDENT = 30
const USAGE_WIDTH = 80

/** Words of `text` in lines of at most `width` characters. */
function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  return [...lines, line]
}

/** The options part of `punchline serve --help`. */
export function settingsUsage (): string {
  return ENTRIES.map(([, setting]) => {
    const shown = setting.default === undefined || setting.kind === 'keys' ? 'none' : String(setting.default)
    const left = `  --${setting.flag} ${setting.metavar}`
    const right = wrap(`${setting.help} (${setting.env}, default ${shown})`, USAGE_WIDTH - USAGE_INDENT)
    const first = left.length < USAGE_INDENT ? [`${left.padEnd(USAGE_INDENT)}${right.shift()!}`] : [left]
    return [...first, ...right.map((line) => `${' '.repeat(USAGE_INDENT)}${line}`)].join('\n')
  }).join('\n')
}

/** `given`, with every setting it leaves out (or leaves undefined) at its default. */
export function withDefaults<T extends Partial<ServerConfig>> (given: T): ServerConfig & T {
  const merged: Record<string, unknown> = Object.fromEntries(ENTRIES.map(([name, setting]) => [name, setting.default]))
  for (const [key, value] of Object.entries(given)) if (value !== undefined) merged[key] = value
  return merged as ServerConfig & T
}
