// `punchline peer`: netcat over a punched connection. Registers, then connects
// to --connect TARGET or waits for one incoming introduction, and pipes
// stdin/stdout over the authenticated connection. Progress goes to stderr:
// readable lines, or with --json one JSON object per line with an `event`.
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import type { Endpoint } from '../server/schemas/common.js'
import { PunchlineError } from './errors.js'
import { Peer, type PeerEvent, type PunchedConnection } from './peer.js'

export const PEER_USAGE = `punchline peer --server URL [--id ID] [--connect TARGET] [--json] [--timeout S]
               [--port P] [--private ADDR:PORT,...]

  --server URL      rendezvous server, e.g. http://rendezvous.example:8080
  --id ID           peer id to register (default: one the server generates)
  --connect TARGET  connect to peer TARGET; without it, wait for one incoming connection
  --timeout S       seconds a punch may take (default 10)
  --port P          local punch port (default: any free port)
  --private LIST    private endpoints to report (default: this host's IPv4 addresses)
  --api-key KEY     for servers that require one to register (or PUNCHLINE_API_KEY)
  --json            progress as one JSON object per line on stderr

  Pipes stdin to the peer and the peer's data to stdout; end of stdin half-closes
  the sending direction, and the command exits once both directions have ended.
  Exit codes: 0 clean close, 1 failure (punch, server, connection), 2 usage.

Examples:
  punchline peer --server http://127.0.0.1:8080 --id bob
  echo hello | punchline peer --server http://127.0.0.1:8080 --id alice --connect bob
`

export class UsageError extends Error {}

type Progress = (event: PeerEvent | { type: string, [key: string]: unknown }) => void

function endpointText (endpoint: Endpoint): string {
  return `${endpoint.address}:${endpoint.port}`
}

/** One human line per event worth a person's attention; dials are summed up, not listed. */
function humanLine (event: PeerEvent | { type: string, [key: string]: unknown }): string | undefined {
  const e = event as Record<string, any>
  switch (e.type) {
    case 'registered': return `registered as ${e.id as string}: public ${endpointText(e.publicEndpoint)}, private ${(e.privateEndpoints as Endpoint[]).map(endpointText).join(', ') || 'none'}, punch port ${e.localPort as number}`
    case 'introduced': return `introduced to ${e.peerId as string} (${e.role as string}); punching ${(e.candidates as string[]).join(', ') || 'no candidates: waiting for the peer to reach us'}`
    case 'authenticated': return `authenticated ${e.peerId as string} over ${e.path as string} ${e.remote as string} (via ${e.via as string}) after ${e.elapsedMs as number} ms`
    case 'rejected': return `rejected a connection from ${e.remote as string}: ${e.reason as string}`
    case 'connected': return `connected to ${e.peerId as string} via ${e.via as string} over the ${e.path as string} path ${e.remote as string} in ${e.elapsedMs as number} ms after ${e.attempts as number} dial(s)`
    case 'failed': return `punch to ${e.peerId as string} failed after ${e.elapsedMs as number} ms and ${e.attempts as number} dial(s): ${e.message as string}`
    case 'server-unreachable': return `rendezvous server unreachable (${e.message as string}); retrying in ${e.retryInMs as number} ms`
    case 'registration-lost': return `registration lost (${e.message as string}); retrying in ${e.retryInMs as number} ms`
    case 'closed': return 'connection closed'
    case 'error': return `error: ${e.message as string}`
    default: return undefined
  }
}

function parseEndpoints (list: string): Endpoint[] {
  return list.split(',').filter(Boolean).map((item) => {
    const match = /^(.+):(\d+)$/.exec(item.trim())
    if (match === null) throw new UsageError(`--private takes ADDR:PORT[,ADDR:PORT...], got "${item}"`)
    return { address: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) }
  })
}

/** Pipes stdin/stdout over the socket; resolves once both directions have ended. */
async function relay (socket: Socket, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let received = false
    let sent = false
    const check = (): void => { if (received && sent) resolve() }
    socket.on('error', reject)
    socket.on('end', () => { received = true; check() })
    socket.on('finish', () => { sent = true; check() })
    socket.pipe(output as NodeJS.WritableStream, { end: false })
    input.pipe(socket) // end of input ends (half-closes) the socket
  })
}

export async function runPeerCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      server: { type: 'string' },
      id: { type: 'string' },
      connect: { type: 'string' },
      timeout: { type: 'string' },
      port: { type: 'string' },
      private: { type: 'string' },
      'api-key': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(PEER_USAGE)
    return 0
  }
  if (values.server === undefined) throw new UsageError('--server URL is required')
  const timeoutSeconds = values.timeout === undefined ? 10 : Number(values.timeout)
  if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a number of seconds greater than 0, got "${values.timeout}"`)
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got "${values.port}"`)

  const progress: Progress = values.json === true
    ? (event) => {
        const { type, ...rest } = event as { type: string }
        process.stderr.write(JSON.stringify({ event: type, ...rest }) + '\n')
      }
    : (event) => {
        const line = humanLine(event)
        if (line !== undefined) process.stderr.write(`punchline: ${line}\n`)
      }

  const fail = (error: unknown): number => {
    const code = error instanceof PunchlineError ? error.code : (error as NodeJS.ErrnoException).code
    progress({ type: 'error', code, message: (error as Error).message })
    return 1
  }
  const privateEndpoints = values.private === undefined ? undefined : parseEndpoints(values.private)
  let peer: Peer
  try {
    const apiKey = values['api-key'] ?? process.env.PUNCHLINE_API_KEY
    peer = await Peer.open({ server: values.server, id: values.id, localPort: port, punchTimeoutMs: timeoutSeconds * 1000, privateEndpoints, apiKey })
  } catch (error) {
    return fail(error)
  }
  peer.on('trace', progress)
  const onSignal = (): void => { void peer.close().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    let connection: PunchedConnection | undefined
    if (values.connect !== undefined) {
      connection = await peer.connect(values.connect)
    } else {
      for await (const incoming of peer.connections()) {
        connection = incoming
        break
      }
    }
    if (connection === undefined) return 1
    await relay(connection.socket, process.stdin, process.stdout)
    progress({ type: 'closed', peerId: connection.peerId })
    connection.socket.destroy()
    return 0
  } catch (error) {
    return fail(error)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await peer.close()
  }
}
