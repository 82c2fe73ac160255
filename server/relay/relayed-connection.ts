// One relayed connection: the two sides of an introduction, attached one
// after the other and spliced together. Its phases: waiting (one side, for
// at most the peer wait; what it sends meanwhile is held, a socket buffer's
// worth by the relay and the rest by TCP flow control),
// spliced (a pump each way, an idle timer and a lifetime), ended. Every way
// it ends — a side closes or resets, it goes idle, outlives its lifetime,
// waits alone too long, the server shuts down — goes through end(), which
// removes every listener and timer and closes what is still open.
import { TLSSocket } from 'node:tls'
import type { Socket } from 'node:net'
import type { Role } from '../introductions/introductions.js'
import { RELAY_KEEPALIVE_MS } from '@punchline/protocol/limits'
import { Pump } from './pump.js'

export type Side = Role
export type Phase = 'waiting' | 'spliced' | 'ended'
/** How a relayed connection ended: both sides closed in order, one reset, or a bound of the relay cut it. */
export type EndReason = 'closed' | 'reset' | 'idle' | 'lifetime' | 'unpaired' | 'shutdown'
export const END_REASONS: readonly EndReason[] = ['closed', 'reset', 'idle', 'lifetime', 'unpaired', 'shutdown']
export type Direction = 'initiator_to_target' | 'target_to_initiator'

export interface RelayBounds {
  /** Each direction. */
  bytesPerSecond: number
  idleTimeoutMs: number
  maxLifetimeMs: number
  /** How long the first side waits for the second. */
  peerWaitMs: number
}

export interface RelayEvents {
  relayed: (direction: Direction, bytes: number) => void
  ended: (relay: RelayedConnection, reason: EndReason) => void
}

const OTHER: Record<Side, Side> = { initiator: 'target', target: 'initiator' }
const DIRECTION: Record<Side, Direction> = { initiator: 'initiator_to_target', target: 'target_to_initiator' }

/**
 * Closes a socket so that its end learns the stream was cut, not finished:
 * with a TCP reset. A TLS socket has no reset of its own (its handle is not
 * the TCP one), so it is destroyed.
 */
export function abort (socket: Socket): void {
  if (socket.destroyed) return
  if (socket instanceof TLSSocket) socket.destroy()
  else socket.resetAndDestroy()
}

export class RelayedConnection {
  readonly introductionId: string
  /** The peer id of each side. */
  readonly peers: Readonly<Record<Side, string>>
  readonly #bounds: RelayBounds
  readonly #events: RelayEvents
  readonly #sockets: Partial<Record<Side, Socket>> = {}
  readonly #listeners: Array<{ socket: Socket, event: 'close' | 'error', listener: (...args: any[]) => void }> = []
  readonly #pumps: Pump[] = []
  #phase: Phase = 'waiting'
  #endReason: EndReason | undefined
  #errored = false
  #peerWait: NodeJS.Timeout | undefined
  #idle: NodeJS.Timeout | undefined
  #lifetime: NodeJS.Timeout | undefined

  constructor (introductionId: string, peers: Record<Side, string>, bounds: RelayBounds, events: RelayEvents) {
    this.introductionId = introductionId
    this.peers = peers
    this.#bounds = bounds
    this.#events = events
  }

  get phase (): Phase {
    return this.#phase
  }

  get endReason (): EndReason | undefined {
    return this.#endReason
  }

  attached (side: Side): boolean {
    return this.#sockets[side] !== undefined
  }

  /** Sides attached so far. */
  get sides (): Side[] {
    return (Object.keys(this.#sockets) as Side[])
  }

  /** Bytes held in the relay's socket buffers right now (read and not yet forwarded, or written and not yet sent). */
  get bufferedBytes (): number {
    let bytes = 0
    for (const socket of Object.values(this.#sockets)) bytes += socket.readableLength + socket.writableLength
    return bytes
  }

  /** Attaches a side that has had its 101: it waits for the other, or is spliced to it. */
  attach (side: Side, socket: Socket): void {
    if (this.#phase !== 'waiting' || this.attached(side)) throw new Error(`cannot attach the ${side} side of a relay that is ${this.#phase}${this.attached(side) ? ' and has it' : ''}`)
    this.#sockets[side] = socket
    // A relayed connection may sit idle behind NATs that forget idle mappings; and it forwards each read at once.
    socket.setKeepAlive(true, RELAY_KEEPALIVE_MS)
    socket.setNoDelay(true)
    this.#listen(socket, 'error', () => { this.#errored = true })
    this.#listen(socket, 'close', (hadError: boolean) => { this.#onClose(side, hadError) })
    if (socket.destroyed) {
      this.#onClose(side, false)
      return
    }
    if (this.attached(OTHER[side])) {
      this.#splice()
      return
    }
    // Reading up to the socket's high-water mark (then TCP holds the rest) notices a side that resets while it waits.
    socket.read(0)
    this.#peerWait = setTimeout(() => { this.end('unpaired') }, this.#bounds.peerWaitMs)
  }

  #listen (socket: Socket, event: 'close' | 'error', listener: (...args: any[]) => void): void {
    socket.on(event, listener)
    this.#listeners.push({ socket, event, listener })
  }

  #splice (): void {
    clearTimeout(this.#peerWait)
    this.#phase = 'spliced'
    const { initiator, target } = this.#sockets as Record<Side, Socket>
    this.#idle = setTimeout(() => { this.end('idle') }, this.#bounds.idleTimeoutMs)
    this.#lifetime = setTimeout(() => { this.end('lifetime') }, this.#bounds.maxLifetimeMs)
    for (const [from, to, side] of [[initiator, target, 'initiator'], [target, initiator, 'target']] as const) {
      const direction = DIRECTION[side]
      this.#pumps.push(new Pump(from, to, this.#bounds.bytesPerSecond, (bytes) => {
        this.#idle?.refresh()
        this.#events.relayed(direction, bytes)
      }))
    }
    for (const pump of this.#pumps) pump.start()
  }

  #onClose (side: Side, hadError: boolean): void {
    if (this.#phase === 'ended') return
    if (hadError || this.#errored) {
      this.end('reset')
      return
    }
    const other = this.#sockets[OTHER[side]]
    if (other === undefined || other.destroyed) {
      this.end('closed')
      return
    }
    // What is on its way to the other side is still delivered; then it closes, and its 'close' ends the relay.
    other.destroySoon()
  }

  /** Ends the relayed connection (idempotent): every timer and listener goes, and open sides are reset. */
  end (reason: EndReason): void {
    if (this.#phase === 'ended') return
    this.#phase = 'ended'
    this.#endReason = reason
    clearTimeout(this.#peerWait)
    clearTimeout(this.#idle)
    clearTimeout(this.#lifetime)
    for (const pump of this.#pumps) pump.stop()
    for (const { socket, event, listener } of this.#listeners.splice(0)) socket.off(event, listener)
    for (const socket of Object.values(this.#sockets)) abort(socket)
    this.#events.ended(this, reason)
  }
}
