// What the peer-side commands (peer, expose, forward) share: their common
// options, how they become PeerOptions, and the usage errors and exit codes.
import { readFileSync } from 'node:fs'
import type { Endpoint } from '@punchline/protocol'
import { defaultIdentityFile, defaultKnownPeersFile, identityFile, type PeerOptions } from '@punchline/sdk'
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
  keepalive: { type: 'string' },
  identity: { type: 'string' },
  'known-peers': { type: 'string' },
  'peer-key': { type: 'string' },
  'no-encrypt': { type: 'boolean', default: false },
  relay: { type: 'string' }
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
  identity?: string | undefined
  'known-peers'?: string | undefined
  'peer-key'?: string | undefined
  'no-encrypt'?: boolean | undefined
  relay?: string | undefined
}

const RELAY_MODES = ['auto', 'never', 'only'] as const

/** --relay auto|never|only (default auto). */
function relayOption (value: string | undefined): PeerOptions['relay'] {
  if (value === undefined) return 'auto'
  const mode = value.trim()
  if (!(RELAY_MODES as readonly string[]).includes(mode)) throw new UsageError(`--relay takes auto, never or only, got "${value}"`)
  return mode as PeerOptions['relay']
}

const KEY = /^[A-Za-z0-9_-]{43}$/

/**
 * --peer-key: a bare KEY pins the command's target (`target`), and
 * ID=KEY[,ID=KEY...] pins those ids.
 */
export function peerKeysOption (value: string | undefined, target: string | undefined): Record<string, string> {
  if (value === undefined) return {}
  if (KEY.test(value.trim())) {
    if (target === undefined) throw new UsageError('--peer-key KEY needs a target (--connect or --peer); to pin other peers, give ID=KEY[,ID=KEY...]')
    return { [target]: value.trim() }
  }
  return Object.fromEntries(value.split(',').filter(Boolean).map((item) => {
    const [id, key] = item.trim().split('=')
    if (id === undefined || id === '' || key === undefined || !KEY.test(key)) {
      throw new UsageError(`--peer-key takes KEY or ID=KEY[,ID=KEY...] (a key is 43 base64url characters, as "punchline id" prints it), got "${item}"`)
    }
    return [id, key]
  }))
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

/**
 * The options every peer-side command shares, as PeerOptions: the identity
 * from its file (created on first use), the known-peers file, and the rest.
 * `peerKeys` are the keys pinned by the command's own options.
 */
export async function peerOptionsFrom (values: PeerOptionValues, peerKeys: Record<string, string> = {}): Promise<PeerOptions> {
  if (values.server === undefined) throw new UsageError('--server URL is required')
  const timeoutSeconds = values.timeout === undefined ? 10 : Number(values.timeout)
  if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a number of seconds greater than 0, got "${values.timeout}"`)
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got "${values.port}"`)
  const keepAliveSeconds = values.keepalive === undefined ? undefined : Number(values.keepalive)
  if (keepAliveSeconds !== undefined && !(Number.isInteger(keepAliveSeconds) && keepAliveSeconds >= 0)) {
    throw new UsageError(`--keepalive must be a whole number of seconds (0: off), got "${values.keepalive}"`)
  }
  const relay = relayOption(values.relay)
  const identityPath = values.identity ?? defaultIdentityFile()
  const identity = await identityFile(identityPath).catch((error: Error) => { throw new UsageError(`--identity: ${error.message}`) })
  const knownPeers = values['known-peers'] ?? defaultKnownPeersFile()
  return {
    server: values.server,
    identity: identity.privateKey,
    peerKeys,
    knownPeersFile: knownPeers === 'none' ? undefined : knownPeers,
    encrypt: values['no-encrypt'] !== true,
    relay,
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
