// Server settings: named defaults, overridden by environment variables, then
// by command-line flags. Normalised and validated once, before any work.
import path from 'node:path'

export const DEFAULT_HOST = '::'
export const DEFAULT_PORT = 8080
export const DEFAULT_DATABASE = './data/punchline.db'
export const DEFAULT_LOG_LEVEL = 'info'
export const DEFAULT_INTRODUCTION_TTL_SECONDS = 30
export const DEFAULT_SWEEP_INTERVAL_SECONDS = 30
export const DEFAULT_BODY_LIMIT_BYTES = 16 * 1024
export const DEFAULT_MAX_PENDING_INTRODUCTIONS = 64
export const DEFAULT_MAX_REGISTRATIONS_PER_ADDRESS = 256
export const DEFAULT_RATE_LIMIT_PER_ADDRESS = 1200
export const DEFAULT_RATE_LIMIT_PER_PEER = 300
export const MIN_API_KEY_LENGTH = 16
export const DEFAULT_MAX_POLL_WAIT_SECONDS = 60
export const DEFAULT_HEADERS_TIMEOUT_SECONDS = 10
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface ServerConfig {
  host: string
  port: number
  /** Absolute path of the SQLite database file. */
  databasePath: string
  logLevel: LogLevel
  introductionTtlSeconds: number
  sweepIntervalSeconds: number
  bodyLimitBytes: number
  /** Unacknowledged live introductions one peer's inbox holds; more get 429. */
  maxPendingIntroductions: number
  /** Live registrations from one public address; more get 429 (a NAT can front many peers). */
  maxRegistrationsPerAddress: number
  /** Requests a minute from one source address (every route); more get 429. */
  rateLimitPerAddress: number
  /** Requests a minute from one authenticated peer; more get 429. */
  rateLimitPerPeer: number
  /** When not empty, registering needs one of these in an X-API-Key header. */
  apiKeys: string[]
  /** Seconds a client has to send a request's headers, and its whole request (long-polls are answers, not requests: not cut). */
  headersTimeoutSeconds: number
  requestTimeoutSeconds: number
  /** Longest a long-poll is held; a longer `wait` is shortened to it (60 at most, the API's bound). */
  maxPollWaitSeconds: number
}

/** Each setting, its environment variable and its command-line flag. */
export const SETTINGS = {
  host: { env: 'PUNCHLINE_HOST', flag: 'host' },
  port: { env: 'PUNCHLINE_PORT', flag: 'port' },
  databasePath: { env: 'PUNCHLINE_DB', flag: 'db' },
  logLevel: { env: 'PUNCHLINE_LOG_LEVEL', flag: 'log-level' },
  introductionTtlSeconds: { env: 'PUNCHLINE_INTRODUCTION_TTL', flag: 'introduction-ttl' },
  sweepIntervalSeconds: { env: 'PUNCHLINE_SWEEP_INTERVAL', flag: 'sweep-interval' },
  bodyLimitBytes: { env: 'PUNCHLINE_BODY_LIMIT', flag: 'body-limit' },
  maxPendingIntroductions: { env: 'PUNCHLINE_MAX_PENDING_INTRODUCTIONS', flag: 'max-pending-introductions' },
  maxRegistrationsPerAddress: { env: 'PUNCHLINE_MAX_REGISTRATIONS_PER_ADDRESS', flag: 'max-registrations-per-address' },
  rateLimitPerAddress: { env: 'PUNCHLINE_RATE_LIMIT_PER_ADDRESS', flag: 'rate-limit-per-address' },
  rateLimitPerPeer: { env: 'PUNCHLINE_RATE_LIMIT_PER_PEER', flag: 'rate-limit-per-peer' },
  apiKeys: { env: 'PUNCHLINE_API_KEYS', flag: 'api-keys' },
  headersTimeoutSeconds: { env: 'PUNCHLINE_HEADERS_TIMEOUT', flag: 'headers-timeout' },
  requestTimeoutSeconds: { env: 'PUNCHLINE_REQUEST_TIMEOUT', flag: 'request-timeout' },
  maxPollWaitSeconds: { env: 'PUNCHLINE_MAX_POLL_WAIT', flag: 'max-poll-wait' }
} as const satisfies Record<keyof ServerConfig, { env: string, flag: string }>

export class ConfigError extends Error {
  readonly code = 'PUNCH_ERR_CONFIG'
}

type RawSettings = Partial<Record<keyof ServerConfig, string | undefined>>

function integerSetting (name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  }
  return value
}

/** Reads settings from flags (highest precedence), then env, then defaults. */
export function resolveConfig (flags: RawSettings = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ServerConfig {
  const raw = (key: keyof ServerConfig): string | undefined => flags[key] ?? env[SETTINGS[key].env]
  const label = (key: keyof ServerConfig): string => `--${SETTINGS[key].flag} (${SETTINGS[key].env})`

  const logLevel = raw('logLevel') ?? DEFAULT_LOG_LEVEL
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`${label('logLevel')} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)
  }
  const host = raw('host') || DEFAULT_HOST
  const headersTimeoutSeconds = integerSetting(label('headersTimeoutSeconds'), raw('headersTimeoutSeconds'), DEFAULT_HEADERS_TIMEOUT_SECONDS, 1, 600)
  const requestTimeoutSeconds = integerSetting(label('requestTimeoutSeconds'), raw('requestTimeoutSeconds'), DEFAULT_REQUEST_TIMEOUT_SECONDS, 1, 3600)
  if (headersTimeoutSeconds > requestTimeoutSeconds) {
    throw new ConfigError(`${label('headersTimeoutSeconds')} (${headersTimeoutSeconds}) must not be longer than ${label('requestTimeoutSeconds')} (${requestTimeoutSeconds})`)
  }
  const apiKeys = (raw('apiKeys') ?? '').split(',').map((key) => key.trim()).filter(Boolean)
  for (const key of apiKeys) {
    if (key.length < MIN_API_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ConfigError(`${label('apiKeys')} takes comma-separated keys of at least ${MIN_API_KEY_LENGTH} printable characters; one is not`)
    }
  }
  const databasePath = raw('databasePath') || DEFAULT_DATABASE

  return {
    host,
    port: integerSetting(label('port'), raw('port'), DEFAULT_PORT, 0, 65535),
    databasePath: path.resolve(cwd, databasePath),
    logLevel: logLevel as LogLevel,
    introductionTtlSeconds: integerSetting(label('introductionTtlSeconds'), raw('introductionTtlSeconds'), DEFAULT_INTRODUCTION_TTL_SECONDS, 5, 3600),
    sweepIntervalSeconds: integerSetting(label('sweepIntervalSeconds'), raw('sweepIntervalSeconds'), DEFAULT_SWEEP_INTERVAL_SECONDS, 1, 3600),
    bodyLimitBytes: integerSetting(label('bodyLimitBytes'), raw('bodyLimitBytes'), DEFAULT_BODY_LIMIT_BYTES, 1024, 1024 * 1024),
    maxPendingIntroductions: integerSetting(label('maxPendingIntroductions'), raw('maxPendingIntroductions'), DEFAULT_MAX_PENDING_INTRODUCTIONS, 1, 100_000),
    maxRegistrationsPerAddress: integerSetting(label('maxRegistrationsPerAddress'), raw('maxRegistrationsPerAddress'), DEFAULT_MAX_REGISTRATIONS_PER_ADDRESS, 1, 10_000_000),
    rateLimitPerAddress: integerSetting(label('rateLimitPerAddress'), raw('rateLimitPerAddress'), DEFAULT_RATE_LIMIT_PER_ADDRESS, 1, 100_000_000),
    rateLimitPerPeer: integerSetting(label('rateLimitPerPeer'), raw('rateLimitPerPeer'), DEFAULT_RATE_LIMIT_PER_PEER, 1, 100_000_000),
    apiKeys,
    headersTimeoutSeconds,
    requestTimeoutSeconds,
    maxPollWaitSeconds: integerSetting(label('maxPollWaitSeconds'), raw('maxPollWaitSeconds'), DEFAULT_MAX_POLL_WAIT_SECONDS, 1, DEFAULT_MAX_POLL_WAIT_SECONDS)
  }
}
