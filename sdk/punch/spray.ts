// One side's part of the birthday strategy (./strategy.ts), paced and
// bounded by ./spray-schedule.ts:
//   open  - the randomizing side keeps OPEN_SOCKETS sockets connecting to the
//           other side's observed public endpoint, each from an ephemeral
//           port of its own (one four-tuple per socket; its NAT gives each a
//           random public port anyway); a refused one is replaced after
//           REOPEN_DELAY_MS, OPEN_BUDGET in all
//   spray - the consistent side dials ports of the randomizing side's
//           observed public address from its punch port, biased block
//           first, each socket closed after SPRAY_HOLD_MS, SPRAY_BUDGET in all
// Whatever connects is handed to the punch, which authenticates it like any
// other connection, and pauses the spray meanwhile (most of a spray's cost
// would otherwise be the round trips of the handshake). The punch owns every
// socket (track) and stops the spray.
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Endpoint } from '@punchline/protocol'
import type { LocalAddress, PortSockets } from '../socket/port-sockets.js'
import { OPEN_BUDGET, OPEN_SOCKETS, REOPEN_DELAY_MS, SPRAY_BUDGET, SPRAY_HOLD_MS, SPRAY_SYNS_PER_SECOND, sprayPorts } from './spray-schedule.js'

export type SprayRole = 'open' | 'spray'

/** Dials are issued on this beat, as many as the rate allows since the start. */
const TICK_MS = 10
/** At most this many dials per beat, however late the beat comes (a busy event loop must not turn into a burst). */
const MAX_DIALS_PER_TICK = Math.ceil(SPRAY_SYNS_PER_SECOND * TICK_MS / 1000) * 2

export interface SprayOptions {
  role: SprayRole
  /** The punch port (spray), or the local address to open from (open: its host only). */
  local: LocalAddress
  sockets: PortSockets
  /** The other side's observed public endpoint: its address is sprayed, or the endpoint itself is opened towards. */
  peer: Endpoint
  /** Every socket made, for the punch to destroy when it ends. */
  track: (socket: net.Socket) => void
  /** A socket that connected: the punch authenticates it. */
  onConnect: (socket: net.Socket, remote: Endpoint) => void
  random: () => number
}

/** What a spray did: its cost (dials, each at least one SYN) and how the dials ended. */
export interface SprayTally {
  role: SprayRole
  dials: number
  connected: number
  refused: number
  /** From the first dial to the end of the spray, ms. */
  sprayMs: number
}

export class Spray {
  readonly #options: SprayOptions
  /** spray: the ports still to dial, in order; open: when each socket still to open may go (performance.now()). */
  readonly #ports: number[]
  readonly #due: number[] = []
  readonly #holds = new Set<NodeJS.Timeout>()
  #timer: NodeJS.Timeout | undefined
  #paused = false
  #startedAt = 0
  #endedAt = 0
  #paced = 0
  #dials = 0
  #connected = 0
  #refused = 0

  constructor (options: SprayOptions) {
    this.#options = options
    this.#ports = options.role === 'spray' ? sprayPorts(SPRAY_BUDGET, options.random, options.peer.port) : []
  }

  get dials (): number {
    return this.#dials
  }

  get tally (): SprayTally {
    const end = this.#endedAt === 0 ? performance.now() : this.#endedAt
    return { role: this.#options.role, dials: this.#dials, connected: this.#connected, refused: this.#refused, sprayMs: this.#startedAt === 0 ? 0 : Math.round(end - this.#startedAt) }
  }

  /** The budget of this side's part: dials at most. */
  get budget (): number {
    return this.#options.role === 'spray' ? this.#ports.length : OPEN_BUDGET
  }

  start (): void {
    if (this.#startedAt !== 0) return
    this.#startedAt = performance.now()
    if (this.#options.role === 'open') for (let n = 0; n < OPEN_SOCKETS; n++) this.#due.push(this.#startedAt)
    this.#tick()
  }

  /** No dials until resume(): a connection is being authenticated. */
  pause (): void {
    this.#paused = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  resume (): void {
    if (!this.#paused) return
    this.#paused = false
    if (!this.#stopped) this.#timer ??= setTimeout(() => { this.#tick() }, TICK_MS)
  }

  /** No more dials; sockets already made stay with the punch. Safe to call again. */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const hold of this.#holds) clearTimeout(hold)
    this.#holds.clear()
    this.#due.length = 0
    this.#ports.length = 0
    if (this.#startedAt !== 0 && this.#endedAt === 0) this.#endedAt = performance.now()
  }

  get #stopped (): boolean {
    return this.#endedAt !== 0
  }

  #tick (): void {
    this.#timer = undefined
    if (this.#stopped || this.#paused) return
    const now = performance.now()
    const allowed = Math.min(MAX_DIALS_PER_TICK, Math.floor((now - this.#startedAt) * SPRAY_SYNS_PER_SECOND / 1000) + 1 - this.#paced)
    for (let n = 0; n < allowed && this.#dialNext(now); n++) this.#paced++
    // A beat that could not use its share gives it up: the rate is a ceiling, never made up later in a burst.
    this.#paced = Math.max(this.#paced, Math.floor((now - this.#startedAt) * SPRAY_SYNS_PER_SECOND / 1000) + 1 - MAX_DIALS_PER_TICK)
    if (this.#ports.length > 0 || this.#due.length > 0) this.#timer = setTimeout(() => { this.#tick() }, TICK_MS)
  }

  /** Dials the next port or socket due; false when none is due now. */
  #dialNext (now: number): boolean {
    if (this.#options.role === 'spray') {
      const port = this.#ports.shift()
      if (port === undefined) return false
      this.#spray({ address: this.#options.peer.address, port })
      return true
    }
    if (this.#due.length === 0 || this.#due[0]! > now || this.#dials >= OPEN_BUDGET) {
      if (this.#dials >= OPEN_BUDGET) this.#due.length = 0
      return false
    }
    this.#due.shift()
    this.#open()
    return true
  }

  #spray (remote: Endpoint): void {
    this.#dials++
    const socket = this.#options.sockets.dial(this.#options.local, remote)
    this.#options.track(socket)
    // Closed before the initial RTO (1 s): one SYN per port, and no socket outlives its use.
    const hold = setTimeout(() => {
      this.#holds.delete(hold)
      socket.destroy()
    }, SPRAY_HOLD_MS)
    this.#holds.add(hold)
    this.#watch(socket, remote, () => {
      clearTimeout(hold)
      this.#holds.delete(hold)
    })
  }

  #open (): void {
    this.#dials++
    const { peer, local } = this.#options
    // Half-open allowed like every socket of the punch port: the application decides when its side ends.
    const socket = net.connect({ host: peer.address, port: peer.port, allowHalfOpen: true, ...(local.host === '0.0.0.0' ? {} : { localAddress: local.host }) })
    this.#options.track(socket)
    this.#watch(socket, peer, () => {})
  }

  #watch (socket: net.Socket, remote: Endpoint, settled: () => void): void {
    let connected = false
    socket.once('connect', () => {
      connected = true
      settled()
      this.#connected++
      this.#options.onConnect(socket, remote)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      settled()
      if (connected) return
      if (error.code !== 'ECONNREFUSED' && error.code !== 'ECONNRESET') return
      this.#refused++
      // A consistent NAT that resets: this mapping is gone; a new one, once the other side's spray has passed.
      if (this.#options.role === 'open' && !this.#stopped) this.#reopenLater()
    })
  }

  #reopenLater (): void {
    this.#due.push(performance.now() + REOPEN_DELAY_MS)
    if (!this.#paused) this.#timer ??= setTimeout(() => { this.#tick() }, TICK_MS)
  }
}
