// Progress on stderr for the peer-side commands. With --json: one object per
// line with an `event`, for machines. Otherwise a readable line per event
// worth a person's attention, and — only when stderr is a terminal — a status
// line below them that redraws while a punch is under way (phase, dials so
// far, elapsed time).
import { clearLine, cursorTo } from 'node:readline'
import { PunchlineError, endpointLabel, type TraceEvent } from '@punchline/sdk'
import { EXIT } from './exit.js'

/** A trace event of the SDK, or one of the command's own. */
export type ProgressEvent = TraceEvent
  | { type: 'error', code: string | undefined, message: string }
  | { type: 'closed', peerId: string }
  | { type: 'exposing', id: string, service: string, allow: readonly string[] | '*' }
export type Progress = (event: ProgressEvent) => void

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
const REDRAW_MS = 80

export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]!}`
}

const DECLINED = {
  'not-allowed': 'not an allowed peer',
  busy: 'too many punches under way',
  expired: 'it expired while waiting for a punch slot',
  invalid: 'the server sent an introduction that is not for us',
  'key-mismatch': 'its key is not the one pinned or known'
} as const

const RELAY_REASONS = {
  'head-start': 'no direct connection yet (punching goes on)',
  mappings: 'both NATs map every connection to a new port, punching cannot work',
  only: 'relay only, as asked'
} as const

/** One human line per event worth a person's attention; dials are counted by the status line, not listed. */
export function humanLine (event: ProgressEvent): string | undefined {
  switch (event.type) {
    case 'registered': return `registered as ${event.id}: public ${endpointLabel(event.publicEndpoint)}, private ${event.privateEndpoints.map(endpointLabel).join(', ') || 'none'}, punch port ${event.localPort}`
    case 'server-unreachable': return `rendezvous server unreachable (${event.message}); retrying in ${event.retryInMs} ms`
    case 'rate-limited': return `the rendezvous server asks to wait (${event.message}); retrying in ${event.retryInMs} ms`
    case 'registration-lost': return `registration lost (${event.message}); retrying in ${event.retryInMs} ms`
    case 'idle-gap-warning': return `warning: ${event.message}`
    case 'mapping': return `NAT mapping ${event.mapping}: the server saw ${endpointLabel(event.publicEndpoint)} on its API port and ${endpointLabel(event.probeEndpoint)} on its mapping port`
    case 'mapping-unknown': return `NAT mapping unknown: ${event.message}`
    case 'ipv6-endpoint': return `IPv6: the server saw ${endpointLabel(event.ipv6Endpoint)}; punches race IPv6 and IPv4`
    case 'ipv6-endpoint-unknown': return `IPv6 endpoint unknown, punching over IPv4 only: ${event.message}`
    case 'ipv6-port': return `IPv6 punch port: ${event.message}`
    case 'introduced': return event.relayInMs === 0 && event.candidates.length === 0
      ? `introduced to ${event.peerId} (${event.role}); relaying${event.strategy === 'relay-now' ? ': both NATs map every connection to a new port, punching cannot work' : ''}`
      : `introduced to ${event.peerId} (${event.role}); punching ${event.candidates.join(', ') || 'no candidates: waiting for the peer to reach us'}${event.skipped.length > 0 ? `; not dialing ${event.skipped.join(', ')}` : ''}` +
        (event.strategy === 'spray' ? `; NAT mappings: this side ${event.mappings.self}, ${event.peerId} ${event.mappings.peer}: one side randomizes its ports, spraying` : '')
    case 'dial':
    case 'dial-failed':
    case 'accepted':
    case 'outcome-reported':
      return undefined
    case 'spray-waiting': return `spraying waits ${event.retryInMs} ms: one spray at a time, with a rest between`
    case 'spray-started': return event.role === 'spray'
      ? `spraying ${event.target} from the punch port: up to ${event.budget} ports at ${event.synsPerSecond}/s`
      : `opening up to ${event.budget} sockets towards ${event.target}, each through a new port of our NAT`
    case 'spray-ended': return `${event.role === 'spray' ? 'spray' : 'opening'} ended (${event.reason}): ${event.dials} dial(s) in ${event.sprayMs} ms, ${event.connected} connected, ${event.refused} refused`
    case 'authenticated': return `authenticated ${event.peerId} over ${event.path} ${event.remote} (via ${event.via}) after ${event.elapsedMs} ms`
    case 'rejected': return `rejected a connection from ${event.remote}: ${event.reason}`
    case 'relay-attaching': return `attaching to the relay for ${event.peerId}: ${RELAY_REASONS[event.reason]}`
    case 'relay-attached': return `attached to the relay at ${event.remote}; authenticating ${event.peerId} over it end to end`
    case 'relay-failed': return `the relay failed for ${event.peerId}: ${event.message}`
    case 'connected': return `connected to ${event.peerId} via ${event.via} over the ${event.path} path ${event.remote} in ${event.elapsedMs} ms after ${event.dials} dial(s)`
    case 'failed': return `punch to ${event.peerId} failed after ${event.elapsedMs} ms and ${event.dials} dial(s): ${event.message}`
    case 'declined': return `declined an introduction from ${event.peerId}: ${event.message ?? DECLINED[event.reason]}`
    case 'punch-queued': return `punch to ${event.peerId} waits for a slot (${event.queued} waiting)`
    case 'dial-limited': return event.retryInMs === null ? `no more dials to ${event.candidate}: its ${event.reason === 'dials' ? 'dial' : 'connection'} budget for this punch is spent` : undefined
    case 'outcome-report-failed': return `could not report the punch outcome to the server: ${event.message}`
    case 'exposing': return `exposing ${event.service} as ${event.id} to ${event.allow === '*' ? 'any peer' : event.allow.join(', ')}`
    case 'listening': return `forwarding ${event.host}:${event.port} to the service ${event.target} exposes`
    case 'tunnel-up': return `tunnel with ${event.peerId} up: via ${event.via} over the ${event.path} path ${event.remote}${event.punchMs !== undefined ? ` (punched in ${event.punchMs} ms)` : ''}`
    case 'tunnel-down': return `tunnel with ${event.peerId} down`
    case 'tunnel-upgrade-failed': return `no direct path to ${event.peerId} yet (${event.message}); the tunnel stays relayed, next try in ${Math.round(event.retryInMs / 1000)} s`
    case 'tunnel-upgraded': return `tunnel with ${event.peerId} upgraded to a direct path: via ${event.via} over the ${event.path} path ${event.remote}; new streams take it${event.relayedStreams > 0 ? `, ${event.relayedStreams} stream(s) finish over the relay` : ''}`
    case 'stream-opened': return event.client !== undefined ? `client ${event.client}: stream ${event.streamId} open` : `${event.peerId} opened stream ${event.streamId}`
    case 'stream-closed': return `${event.client !== undefined ? `client ${event.client}` : `${event.peerId}'s stream ${event.streamId}`} closed after ${(event.durationMs / 1000).toFixed(1)} s: ${formatBytes(event.bytesIn)} in, ${formatBytes(event.bytesOut)} out`
    case 'stream-refused': return `${event.client !== undefined ? `client ${event.client}` : `${event.peerId}'s stream`} refused: ${event.reason}`
    case 'closed': return 'connection closed'
    case 'error': return `error: ${event.message}`
    default: return unknownEvent(event)
  }
}

/** Fails to compile when humanLine misses an event type. */
function unknownEvent (event: never): never {
  throw new Error(`no progress line for event ${JSON.stringify(event)}`)
}

/** The live status line of the punches under way; drawn only on a terminal. */
class StatusLine {
  readonly #stream: NodeJS.WriteStream
  readonly #punches = new Map<string, { peerId: string, started: number, dials: number }>()
  #timer: NodeJS.Timeout | undefined
  #frame = 0
  #drawn = false

  constructor (stream: NodeJS.WriteStream) {
    this.#stream = stream
  }

  /** Writes a line above the status line. */
  print (line: string): void {
    this.#clear()
    this.#stream.write(`${line}\n`)
    this.#draw()
  }

  track (event: ProgressEvent): void {
    switch (event.type) {
      case 'introduced':
        this.#punches.set(event.introductionId, { peerId: event.peerId, started: Date.now() - event.elapsedMs, dials: 0 })
        this.#timer ??= setInterval(() => { this.#clear(); this.#draw() }, REDRAW_MS).unref()
        break
      case 'dial': {
        const punch = this.#punches.get(event.introductionId)
        if (punch !== undefined) punch.dials++
        break
      }
      case 'connected':
      case 'failed':
        this.#punches.delete(event.introductionId)
        if (this.#punches.size === 0) this.stop()
    }
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#clear()
  }

  #draw (): void {
    if (this.#punches.size === 0) return
    const now = Date.now()
    const parts = [...this.#punches.values()].map((punch) => `punching ${punch.peerId}: ${punch.dials} dial(s), ${((now - punch.started) / 1000).toFixed(1)} s`)
    this.#frame = (this.#frame + 1) % SPINNER.length
    this.#stream.write(`${SPINNER[this.#frame]!} ${parts.join('; ')}`)
    this.#drawn = true
  }

  #clear (): void {
    if (!this.#drawn) return
    clearLine(this.#stream, 0)
    cursorTo(this.#stream, 0)
    this.#drawn = false
  }
}

/** The progress reporter for --json or for people; `stop()` clears the status line. */
export function progressReporter (json: boolean, stream: NodeJS.WriteStream = process.stderr): { report: Progress, stop: () => void } {
  if (json) {
    return {
      report: (event) => {
        const { type, ...rest } = event
        stream.write(JSON.stringify({ event: type, ...rest }) + '\n')
      },
      stop: () => {}
    }
  }
  const status = stream.isTTY === true ? new StatusLine(stream) : undefined
  return {
    report: (event) => {
      status?.track(event)
      const line = humanLine(event)
      if (line === undefined) return
      if (status !== undefined) status.print(`punchline: ${line}`)
      else stream.write(`punchline: ${line}\n`)
    },
    stop: () => { status?.stop() }
  }
}

/** Reports a failure as an `error` event; the exit code for it. */
export function reportFailure (progress: Progress, error: unknown): number {
  const code = error instanceof PunchlineError ? error.code : (error as NodeJS.ErrnoException).code
  progress({ type: 'error', code, message: (error as Error).message })
  return EXIT.FAILURE
}
