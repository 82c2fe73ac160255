// Progress on stderr for the peer-side commands. With --json: one object per
// line with an `event`, for machines. Otherwise a readable line per event
// worth a person's attention, and — only when stderr is a terminal — a status
// line below them that redraws while a punch is under way (phase, dials so
// far, elapsed time).
import { clearLine, cursorTo } from 'node:readline'
import type { Endpoint } from '@punchline/protocol'
import { PunchlineError, endpointLabel } from '@punchline/sdk'
import { EXIT } from './exit.js'

/** A trace event of the SDK, or one of the command's own (`error`, `closed`, `exposing`). */
export type ProgressEvent = { type: string } | ({ type: string } & Record<string, unknown>)
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

/** One human line per event worth a person's attention; dials are counted by the status line, not listed. */
export function humanLine (event: ProgressEvent): string | undefined {
  const e = event as Record<string, any>
  switch (e.type) {
    case 'registered': return `registered as ${e.id as string}: public ${endpointLabel(e.publicEndpoint)}, private ${(e.privateEndpoints as Endpoint[]).map(endpointLabel).join(', ') || 'none'}, punch port ${e.localPort as number}`
    case 'introduced': return `introduced to ${e.peerId as string} (${e.role as string}); punching ${(e.candidates as string[]).join(', ') || 'no candidates: waiting for the peer to reach us'}`
    case 'authenticated': return `authenticated ${e.peerId as string} over ${e.path as string} ${e.remote as string} (via ${e.via as string}) after ${e.elapsedMs as number} ms`
    case 'rejected': return `rejected a connection from ${e.remote as string}: ${e.reason as string}`
    case 'connected': return `connected to ${e.peerId as string} via ${e.via as string} over the ${e.path as string} path ${e.remote as string} in ${e.elapsedMs as number} ms after ${e.attempts as number} dial(s)`
    case 'failed': return `punch to ${e.peerId as string} failed after ${e.elapsedMs as number} ms and ${e.attempts as number} dial(s): ${e.message as string}`
    case 'outcome-report-failed': return `could not report the punch outcome to the server: ${e.message as string}`
    case 'declined': return `declined an introduction from ${e.peerId as string}: not an allowed peer`
    case 'server-unreachable': return `rendezvous server unreachable (${e.message as string}); retrying in ${e.retryInMs as number} ms`
    case 'registration-lost': return `registration lost (${e.message as string}); retrying in ${e.retryInMs as number} ms`
    case 'exposing': return `exposing ${e.service as string} as ${e.id as string} to ${(e.allow as string[] | '*') === '*' ? 'any peer' : (e.allow as string[]).join(', ')}`
    case 'listening': return `forwarding ${e.host as string}:${e.port as number} to the service ${e.target as string} exposes`
    case 'tunnel-up': return `tunnel with ${e.peerId as string} up: via ${e.via as string} over the ${e.path as string} path ${e.remote as string}${e.punchMs !== undefined ? ` (punched in ${e.punchMs as number} ms)` : ''}`
    case 'tunnel-down': return `tunnel with ${e.peerId as string} down`
    case 'stream-opened': return e.client !== undefined ? `client ${e.client as string}: stream ${e.streamId as number} open` : `${e.peerId as string} opened stream ${e.streamId as number}`
    case 'stream-closed': return `${e.client !== undefined ? `client ${e.client as string}` : `${e.peerId as string}'s stream ${e.streamId as number}`} closed after ${((e.durationMs as number) / 1000).toFixed(1)} s: ${formatBytes(e.bytesIn as number)} in, ${formatBytes(e.bytesOut as number)} out`
    case 'stream-refused': return `${e.client !== undefined ? `client ${e.client as string}` : `${e.peerId as string}'s stream`} refused: ${e.reason as string}`
    case 'closed': return 'connection closed'
    case 'error': return `error: ${e.message as string}`
    default: return undefined
  }
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
    const e = event as Record<string, unknown>
    const id = e.introductionId as string | undefined
    if (id === undefined) return
    switch (event.type) {
      case 'introduced':
        this.#punches.set(id, { peerId: e.peerId as string, started: Date.now() - (e.elapsedMs as number), dials: 0 })
        this.#timer ??= setInterval(() => { this.#clear(); this.#draw() }, REDRAW_MS).unref()
        break
      case 'dial': {
        const punch = this.#punches.get(id)
        if (punch !== undefined) punch.dials++
        break
      }
      case 'connected':
      case 'failed':
        this.#punches.delete(id)
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
        const { type, ...rest } = event as Record<string, unknown>
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
