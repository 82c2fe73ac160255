// What the peer-side commands (peer, expose, forward) share: their common
// options, how they become PeerOptions, and the usage errors and exit codes.
import { readFileSync } from 'node:fs'
import type { Endpoint } from '@punchline/protocol'
import type { PeerOptions } from '@punchline/sdk'
import { UsageError } from './exit.js'

/** A local address and port, from an ADDR:PORT option. */
export interface HostPort {
  host: string
  port: number
}

/** "host:port" or "[v6]:port"; undefined when malformed or the port is out of range. */
export function parseHostPort (text: string, minPort = 1): HostPort | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim())
  if (match === null) return undefined
  const port = Number(match[3])
  if (port < minPort || port > 65535) return undefined
  return { host: match[1] ?? match[2]!, port }
}

/** parseArgs options shared by the peer-side commands. */
export const PEER_OPTIONS = {
  server: { type: 'string' },
  id: { type: 'string' },
  timeout: { type: 'string' },
  port: { type: 'string' },
  private: { type: 'string' },
  'api-key': { type: 'string' },
  'no-report': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  ca: { type: 'string' },
  keepalive: { type: 'string' }
} as const

interface PeerOptionValues {
  server?: string | undefined
  ca?: string | undefined
  id?: string | undefined
  timeout?: string | undefined
  port?: string | undefined
  private?: string | undefined
  'api-key'?: string | undefined
  'no-report'?: boolean | undefined
  keepalive?: string | undefined
}

function parseEndpoints (list: string): Endpoint[] {
  return list.split(',').filter(Boolean).map((item) => {
    const parsed = parseHostPort(item)
    if (parsed === undefined) throw new UsageError(`--private takes ADDR:PORT[,ADDR:PORT...], got "${item}"`)
    return { address: parsed.host, port: parsed.port }
  })
}

function readCa (file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`--ca ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
}

/** A required ADDR:PORT option; port 0 ("any free port") only where `minPort` is 0. */
export function hostPortOption (name: string, value: string | undefined, example: string, minPort = 1): HostPort {
  if (value === undefined) throw new UsageError(`--${name} ADDR:PORT is required, e.g. --${name} ${example}`)
  const parsed = parseHostPort(value, minPort)
  if (parsed === undefined) throw new UsageError(`--${name} takes ADDR:PORT with a port from ${minPort} to 65535, e.g. ${example}; got "${value}"`)
  return parsed
}

export function peerOptionsFrom (values: PeerOptionValues): PeerOptions {
  if (values.server === undefined) throw new UsageError('--server URL is required')
  const timeoutSeconds = values.timeout === undefined ? 10 : Number(values.timeout)
  if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a number of seconds greater than 0, got "${values.timeout}"`)
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got "${values.port}"`)
  const keepAliveSeconds = values.keepalive === undefined ? undefined : Number(values.keepalive)
  if (keepAliveSeconds !== undefined && !(Number.isInteger(keepAliveSeconds) && keepAliveSeconds >= 0)) {
    throw new UsageError(`--keepalive must be a whole number of seconds (0: off), got "${values.keepalive}"`)
  }
  return {
    server: values.server,
    keepAliveMs: keepAliveSeconds === undefined ? undefined : keepAliveSeconds * 1000,
    ca: values.ca === undefined ? undefined : readCa(values.ca),
    id: values.id,
    localPort: port,
    punchTimeoutMs: timeoutSeconds * 1000,
    privateEndpoints: values.private === undefined ? undefined : parseEndpoints(values.private),
    apiKey: values['api-key'] ?? process.env.PUNCHLINE_API_KEY,
    reportOutcomes: values['no-report'] !== true
  }
}
