// One punch: from an introduction to one authenticated connection.
//
//   punching  - dial every candidate from the punch port, retrying failed dials
//               on the schedule in ./schedule.ts, while connections accepted on
//               the port for this introduction are handed in through adopt();
//               and, when the plan says so (./strategy.ts), spray as well
//               (exactly one NAT endpoint-dependent: ./spray.ts) and attach to
//               the server's relay of the introduction after a head start (or
//               at once, without dialing); every connection that comes up, any
//               of these ways, runs the same handshake (./handshake.ts), so
//               the relayed one races the direct ones on equal terms
//   securing  - the leader (smaller peer id) SELECTed one connection and the
//               follower CONFIRMed it, both after checking each other's PROOF;
//               everything else closed; TLS runs over it (./secure.ts) when
//               either side asked for encryption
//   connected - the connection is handed out
//   failed    - timeout, abort or destroy(); at once when both NATs are
//               endpoint-dependent (nothing to guess)
//
// run() is memoised and destroy() idempotent; every path ends in #settle(),
// which clears every timer and listener and closes every other socket.
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import type { Endpoint, Introduction } from '@punchline/protocol'
import { AbortedError, BothMappingsDependentError, HandshakeInterruptedError, PeerKeyMismatchError, PunchlineError, PunchTimeoutError, RelayRefusedError } from '../errors.js'
import type { Identity, PeerKey } from '../identity/identity.js'
import { keepAlive } from '../socket/keepalive.js'
import type { LocalAddress, PortSockets } from '../socket/port-sockets.js'
import { socketError } from '../socket/socket-error.js'
import type { ConnectionPath, PunchEvent, Via } from '../trace.js'
import { candidatesFor, endpointLabel as label, pathOf, type Candidate, type NetworkView } from './candidates.js'
import type { DialBudget } from './dial-budget.js'
import { FrameReader, handshake, isHelloFor, type Chooser, type HandshakeResult, type Hello } from './handshake.js'
import { secure } from './secure.js'
import { MAX_DIALS_PER_CANDIDATE, MAX_FAILED_CONNECTIONS_PER_CANDIDATE, dialTimeoutMs, isRefusal, limitedRetryDelayMs, meansAlreadyConnected, retryDelayMs } from './schedule.js'
import { Spray } from './spray.js'
import { SprayGate, type SprayTurn } from './spray-gate.js'
import { SPRAY_SYNS_PER_SECOND } from './spray-schedule.js'
import { sprayRoleOf, strategyFor, type RelayReason, type Strategy } from './strategy.js'

export type Phase = 'idle' | 'punching' | 'securing' | 'connected' | 'failed'

export interface PunchedConnection {
  /** The authenticated connection (a TLSSocket when encrypted); the application's bytes start here. */
  socket: Socket
  peerId: string
  /** The identity key the peer proved (raw, base64url). */
  peerKey: string
  /** TLS 1.3 protects the application's bytes end to end. */
  encrypted: boolean
  introductionId: string
  /** `relay` (with `path: 'relay'`): the server relays the connection; it sees only sizes and timing when `encrypted`. */
  via: Via
  path: ConnectionPath
  /** The peer's endpoint; over the relay, the server's. */
  remote: Endpoint
  /** From the start of the punch to the confirmed connection. */
  elapsedMs: number
  /** Dials made (each sends SYNs), a spray's included. */
  dials: number
  /** @deprecated the same as `dials`. */
  attempts: number
}

type EventBody = PunchEvent extends infer E ? E extends PunchEvent ? Omit<E, 'introductionId' | 'peerId' | 'elapsedMs'> : never : never

export interface PunchOptions {
  introduction: Introduction
  /** The punch port (IPv4). */
  local: LocalAddress
  /** The IPv6 punch port, when there is one: IPv6 candidates are dialed from it, racing the IPv4 ones. */
  localIpv6?: LocalAddress | undefined
  sockets: PortSockets
  /** This host's networks: which of the peer's endpoints may be dialed at all. */
  view: NetworkView
  /** SYNs per remote address, shared with the peer's other punches. */
  budget: DialBudget
  timeoutMs: number
  /** TCP keepalive of the connection handed out (0: off); see ../socket/keepalive.ts. */
  keepAliveMs: number
  identity: Identity
  /** The key the peer must prove: pinned, known, or the introduction's. */
  peerKey: PeerKey
  /** Ask for TLS on the chosen connection (used when either side asks). */
  encrypt: boolean
  signal?: AbortSignal | undefined
  onEvent?: ((event: PunchEvent) => void) | undefined
  random?: () => number
  /** Dial the candidates and take accepted connections (false: the relay alone). Default true. */
  punch?: boolean | undefined
  /** What the mappings allow (./strategy.ts): `spray` sprays beside the race. Default: strategyFor(introduction). */
  strategy?: Strategy | undefined
  /** The fallback to the introduction's relay; none when absent. */
  relay?: RelayAttach | undefined
  /** One spray at a time, with a rest between (the Peer's, shared by its punches); one of the punch's own when absent. */
  sprayGate?: SprayGate | undefined
}

/** When and how a punch attaches to the introduction's relay. */
export interface RelayAttach {
  /** ms after the punch starts (0: at once). */
  afterMs: number
  reason: RelayReason
  /** This side's attach (attachRelay): the raw relayed socket once the server answered 101. */
  attach: (options: { signal: AbortSignal, timeoutMs: number }) => Promise<Socket>
}

/** One connection under way: dialed (with its candidate) or accepted. */
interface Link {
  socket: Socket
  reader: FrameReader
  via: Via
  path: ConnectionPath
  remote: Endpoint
  candidate: Candidate | undefined
}

function remoteOf (socket: Socket): Endpoint {
  return { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }
}

function codeOf (error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN'
}

/** A relayed handshake may outlast the punch's deadline by this much: the deadline ends it first, with its own error. */
const RELAY_HANDSHAKE_GRACE_MS = 1000

/**
 * The relay's failure, as the punch's: its message says both, and its `cause`
 * is the punch's own failure (a timeout, say), the reason the relay was
 * needed.
 */
function causedBy (relayFailure: Error, punchFailure: Error): Error {
  relayFailure.message = `${punchFailure.message}; the relay failed too: ${relayFailure.message}`
  Object.defineProperty(relayFailure, 'cause', { value: punchFailure, configurable: true, writable: true, enumerable: false })
  return relayFailure
}

/**
 * Kept on every socket handed out: a peer that resets the connection must not
 * crash a program that has no 'error' listener of its own. The program still
 * sees 'close' (with hadError), and its own listeners still get the error.
 */
function ignoreUnhandledError (): void {}

/**
 * The leader's choice: the first connection to get that far is offered
 * (SELECT); the others that authenticate wait in line, and the earliest still
 * open is offered when an offer falls through.
 */
class Selection {
  #offered: Link | undefined
  readonly #waiting: Array<{ link: Link, resolve: (offered: boolean) => void }> = []

  chooserFor (link: Link): Chooser {
    return {
      claim: () => {
        if (this.#offered !== undefined) return false
        this.#offered = link
        return true
      },
      offered: async () => {
        if (this.#offered === undefined) this.#offered = link
        if (this.#offered === link) return true
        return await new Promise((resolve) => { this.#waiting.push({ link, resolve }) })
      }
    }
  }

  /** The link is gone; passes its offer on. False when nothing is offered any more. */
  release (link: Link): boolean {
    const index = this.#waiting.findIndex((waiting) => waiting.link === link)
    if (index >= 0) this.#waiting.splice(index, 1)[0]!.resolve(false)
    if (this.#offered === link) {
      this.#offered = undefined
      const next = this.#waiting.shift()
      if (next !== undefined) {
        this.#offered = next.link
        next.resolve(true)
      }
    }
    return this.#offered !== undefined
  }

  /** The punch is over: no connection waits for an offer any more. */
  end (): void {
    for (const { resolve } of this.#waiting.splice(0)) resolve(false)
    this.#offered = undefined
  }
}

export class Punch {
  readonly introduction: Introduction
  readonly leader: boolean
  readonly #options: PunchOptions
  readonly #candidates: Candidate[]
  /** The peer's endpoints not dialed, and why. */
  readonly #skipped: string[]
  readonly #secret: Buffer
  readonly #random: () => number
  readonly #strategy: Strategy
  readonly #sprayGate: SprayGate
  #spray: Spray | undefined
  #sprayTurn: SprayTurn | undefined
  #sprayWait: NodeJS.Timeout | undefined
  /** Connections the spray made that are being authenticated: the spray pauses while there are any. */
  readonly #sprayLinks = new Set<Link>()
  #phase: Phase = 'idle'
  #startedAt = 0
  #dials = 0
  #result: Promise<PunchedConnection> | undefined
  #resolve: (connection: PunchedConnection) => void = () => {}
  #reject: (error: Error) => void = () => {}
  #deadline: NodeJS.Timeout | undefined
  readonly #retries = new Set<NodeJS.Timeout>()
  readonly #sockets = new Set<Socket>()
  readonly #links = new Set<Link>()
  /** Candidates not to dial again: someone else is there, or their budget is spent. */
  readonly #refused = new Set<Candidate>()
  readonly #dialsTo = new Map<Candidate, number>()
  /** Per candidate, its fastest refusal so far (the retry spread's round trip). */
  readonly #fastestRefusalMs = new Map<Candidate, number>()
  readonly #failedConnections = new Map<Candidate, number>()
  readonly #selection = new Selection()
  #dialing = true
  readonly #punching: boolean
  #relayTimer: NodeJS.Timeout | undefined
  readonly #relayAbort = new AbortController()
  /** Why the relay could not be had, once it could not: the punch's failure then says so too. */
  #relayFailure: Error | undefined

  constructor (options: PunchOptions) {
    this.#options = options
    this.introduction = options.introduction
    this.leader = options.introduction.self.id < options.introduction.peer.id
    this.#punching = options.punch !== false
    const plan = candidatesFor(options.introduction, options.view, new Set(options.localIpv6 === undefined ? [4] : [4, 6]))
    this.#strategy = options.strategy ?? strategyFor(options.introduction)
    this.#sprayGate = options.sprayGate ?? new SprayGate()
    this.#candidates = this.#punching ? plan.candidates : []
    this.#skipped = this.#punching ? plan.skipped : []
    if (this.#punching && this.#strategy === 'spray' && sprayRoleOf(options.introduction) === 'spray') {
      // The randomizing peer's observed public endpoint is its NAT's mapping towards the server: nothing else gets in there.
      // The spray covers its address instead.
      const sprayed = plan.candidates.find((candidate) => candidate.path === 'public' && candidate.family === 4)
      this.#candidates = plan.candidates.filter((candidate) => candidate !== sprayed)
      if (sprayed !== undefined) this.#skipped = [...plan.skipped, `${sprayed.label}: sprayed instead (endpoint-dependent mapping)`]
    }
    this.#secret = Buffer.from(options.introduction.secret, 'base64url')
    this.#random = options.random ?? Math.random
  }

  get phase (): Phase {
    return this.#phase
  }

  /** Dials made, a spray's included. */
  get dials (): number {
    return this.#dials + (this.#spray?.dials ?? 0)
  }

  /** Since the punch started, ms (0 before it does). */
  get elapsedMs (): number {
    return this.#startedAt === 0 ? 0 : Math.round((performance.now() - this.#startedAt) * 10) / 10
  }

  get #done (): boolean {
    return this.#phase === 'securing' || this.#phase === 'connected' || this.#phase === 'failed'
  }

  /** Starts the punch (once) and resolves with the connection both peers agreed on. */
  async run (): Promise<PunchedConnection> {
    this.#result ??= new Promise<PunchedConnection>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
      this.#start()
    })
    return await this.#result
  }

  /** Ends the punch; a pending run() rejects with `error`. Safe to call at any time, and again. */
  destroy (error: Error = new AbortedError('punch destroyed')): void {
    if (this.#done) return
    if (this.#phase === 'idle') {
      this.#result = Promise.reject(error)
      this.#result.catch(() => {})
    }
    this.#fail(error)
  }

  /** Whether a HELLO was made for this introduction (with its secret). */
  recognizes (hello: Hello): boolean {
    return isHelloFor(hello, this.#secret)
  }

  /** A connection accepted on the punch port whose HELLO is for this introduction. */
  adopt (socket: Socket, reader: FrameReader, hello: Hello): void {
    if (this.#done || !this.#punching) {
      socket.destroy()
      return
    }
    const remote = remoteOf(socket)
    this.#emit({ type: 'accepted', remote: label(remote) })
    this.#track(socket)
    void this.#authenticate({ socket, reader, via: 'accept', path: pathOf(remote, this.introduction), remote, candidate: undefined }, hello)
  }

  #emit (event: EventBody): void {
    this.#options.onEvent?.({
      ...event,
      introductionId: this.introduction.id,
      peerId: this.introduction.peer.id,
      elapsedMs: this.elapsedMs
    } as PunchEvent)
  }

  #track (socket: Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
  }

  readonly #onAbort = (): void => { this.#fail(new AbortedError('punch aborted')) }

  #start (): void {
    this.#phase = 'punching'
    this.#startedAt = performance.now()
    const { signal, timeoutMs } = this.#options
    const { relay } = this.#options
    this.#emit({
      type: 'introduced',
      role: this.introduction.role,
      candidates: this.#candidates.map((candidate) => candidate.label),
      skipped: this.#skipped,
      leader: this.leader,
      strategy: this.#strategy,
      mappings: { self: this.introduction.self.mapping, peer: this.introduction.peer.mapping },
      relayInMs: relay === undefined ? null : relay.afterMs
    })
    if (signal?.aborted === true) {
      this.#onAbort()
      return
    }
    if (this.#strategy === 'relay-now' && this.#options.relay === undefined) {
      // Without a relay to fall back to (a Punch given no RelayAttach), there is nothing to wait for.
      this.#fail(new BothMappingsDependentError(`both NATs map every connection to a new port (${this.introduction.self.id} and ${this.introduction.peer.id}: endpoint-dependent): no direct connection to guess, nothing dialed`))
      return
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true })
    this.#deadline = setTimeout(() => {
      const timedOut = new PunchTimeoutError(`no authenticated connection to ${this.introduction.peer.id} within ${timeoutMs} ms`)
      this.#fail(this.#relayFailure === undefined ? timedOut : causedBy(this.#relayFailure, timedOut))
    }, timeoutMs)
    if (this.#punching) for (const candidate of this.#candidates) this.#dial(candidate)
    if (this.#punching && this.#strategy === 'spray') this.#startSpray()
    if (relay !== undefined) {
      if (relay.afterMs <= 0) void this.#attachRelay(relay)
      else this.#relayTimer = setTimeout(() => { void this.#attachRelay(relay) }, relay.afterMs)
    }
  }

  /** Attaches to the introduction's relay; the relayed connection then runs the handshake like any other. */
  async #attachRelay (relay: RelayAttach): Promise<void> {
    if (this.#done) return
    this.#emit({ type: 'relay-attaching', reason: relay.reason })
    let socket: Socket
    try {
      socket = await relay.attach({ signal: this.#relayAbort.signal, timeoutMs: Math.max(1, this.#remainingMs) })
    } catch (error) {
      this.#relayFailed(error as Error, { attach: true })
      return
    }
    if (this.#done) {
      socket.destroy()
      return
    }
    // The relay carries half-closes (a FIN reaches the other side, which can still answer), as a punched
    // connection does: the socket must not end its own side when the other's ends (a TLS socket over it
    // takes this from it).
    socket.allowHalfOpen = true
    this.#track(socket)
    const remote = remoteOf(socket)
    this.#emit({ type: 'relay-attached', remote: label(remote) })
    void this.#authenticate({ socket, reader: new FrameReader(socket), via: 'relay', path: 'relay', remote, candidate: undefined })
  }

  /**
   * The relay is not to be had: punching goes on, if it was; otherwise the
   * punch fails now. An attach that failed (a refusal, an unreachable
   * server) is also what the punch's failure says in the end; a relayed
   * connection that broke off its handshake is not (the other side left).
   */
  #relayFailed (error: Error, { attach }: { attach: boolean }): void {
    if (this.#done) return
    if (attach) this.#relayFailure = error
    this.#emit({
      type: 'relay-failed',
      code: error instanceof PunchlineError ? error.code : codeOf(error),
      ...(error instanceof RelayRefusedError ? { serverCode: error.serverCode } : {}),
      message: error.message
    })
    if (!this.#punching) this.#fail(error)
  }

  /** This side's part of the birthday strategy, once the peer's spray gate lets it (one at a time, a rest between). */
  #startSpray (): void {
    this.#sprayWait = undefined
    if (this.#done || !this.#dialing) return
    const role = sprayRoleOf(this.introduction)
    const peer = this.introduction.peer.publicEndpoint
    const turn = this.#sprayGate.take()
    if (typeof turn === 'number') {
      this.#emit({ type: 'spray-waiting', role, retryInMs: turn })
      this.#sprayWait = setTimeout(() => { this.#startSpray() }, turn)
      return
    }
    this.#sprayTurn = turn
    this.#spray = new Spray({
      role,
      local: this.#options.local,
      sockets: this.#options.sockets,
      peer,
      random: this.#random,
      track: (socket) => { this.#track(socket) },
      onConnect: (socket, remote) => {
        if (this.#done) {
          socket.destroy()
          return
        }
        const link: Link = { socket, reader: new FrameReader(socket), via: 'connect', path: 'public', remote, candidate: undefined }
        this.#sprayLinks.add(link)
        this.#spray?.pause()
        void this.#authenticate(link)
      }
    })
    this.#emit({ type: 'spray-started', role, target: role === 'spray' ? peer.address : label(peer), budget: this.#spray.budget, synsPerSecond: SPRAY_SYNS_PER_SECOND })
    this.#spray.start()
  }

  /** The spray is over (a connection authenticated, or the punch ended): its cost goes to the trace, the gate starts its rest. */
  #stopSpray (reason: 'authenticated' | 'ended'): void {
    clearTimeout(this.#sprayWait)
    this.#sprayWait = undefined
    const spray = this.#spray
    if (spray === undefined || this.#sprayTurn === undefined) return
    spray.stop()
    this.#sprayTurn.release()
    this.#sprayTurn = undefined
    this.#emit({ type: 'spray-ended', reason, ...spray.tally })
  }

  /** ms until the punch's deadline. */
  get #remainingMs (): number {
    return this.#options.timeoutMs - (performance.now() - this.#startedAt)
  }

  #dial (candidate: Candidate): void {
    if (this.#done || !this.#dialing || this.#refused.has(candidate)) return
    const dialed = this.#dialsTo.get(candidate) ?? 0
    if (dialed >= MAX_DIALS_PER_CANDIDATE[candidate.path]) {
      this.#leaveAlone(candidate, 'dials')
      return
    }
    const tokenWait = this.#options.budget.take(candidate.endpoint.address)
    if (tokenWait > 0) {
      const retryInMs = limitedRetryDelayMs(tokenWait, this.#random())
      this.#emit({ type: 'dial-limited', candidate: candidate.label, reason: 'address-rate', retryInMs: Math.round(retryInMs * 10) / 10 })
      this.#retry(candidate, retryInMs)
      return
    }
    this.#dialsTo.set(candidate, dialed + 1)
    this.#dials++
    this.#emit({ type: 'dial', candidate: candidate.label, dial: this.#dials, attempt: this.#dials })
    const sentAt = performance.now()
    const local = candidate.family === 6 && this.#options.localIpv6 !== undefined ? this.#options.localIpv6 : this.#options.local
    const socket = this.#options.sockets.dial(local, candidate.endpoint)
    this.#track(socket)
    let connected = false
    // Behind a NAT that drops unsolicited SYNs the kernel keeps retransmitting; give up on this dial eventually,
    // and soon when the candidate has been answering (its SYN was lost).
    const timeoutMs = this.#dialTimeoutMs(candidate)
    const timeout = setTimeout(() => { socket.destroy(socketError('ETIMEDOUT', `dial unanswered after ${Math.round(timeoutMs)} ms`)) }, timeoutMs)
    socket.once('connect', () => {
      connected = true
      clearTimeout(timeout)
      void this.#authenticate({ socket, reader: new FrameReader(socket), via: 'connect', path: candidate.path, remote: candidate.endpoint, candidate })
    })
    socket.once('error', (error) => {
      clearTimeout(timeout)
      if (!connected) this.#dialFailed(candidate, codeOf(error), performance.now() - sentAt)
    })
    socket.once('close', () => { clearTimeout(timeout) })
  }

  #dialFailed (candidate: Candidate, code: string, failureRoundTripMs: number): void {
    if (this.#done) return
    const retryInMs = !this.#dialing
      ? null
      : meansAlreadyConnected(code)
        // The peer's connection on this address pair is being accepted; should it die half-open
        // (the peer gave up its dial and reset our answer), dial again after a dial's patience.
        ? this.#dialTimeoutMs(candidate)
        : retryDelayMs({ code, failureRoundTripMs, fastestRefusalMs: this.#fastestRefusal(candidate, code, failureRoundTripMs), elapsedMs: performance.now() - this.#startedAt, random: this.#random() })
    this.#emit({ type: 'dial-failed', candidate: candidate.label, code, retryInMs: retryInMs === null ? null : Math.round(retryInMs * 10) / 10 })
    if (retryInMs !== null) this.#retry(candidate, retryInMs)
  }

  #dialTimeoutMs (candidate: Candidate): number {
    return dialTimeoutMs(this.#fastestRefusalMs.get(candidate) ?? Infinity)
  }

  /** The candidate's fastest refusal in this punch, counting this failure: its round trip, free of SYN retransmissions. */
  #fastestRefusal (candidate: Candidate, code: string, failureRoundTripMs: number): number {
    const fastest = Math.min(this.#fastestRefusalMs.get(candidate) ?? Infinity, isRefusal(code) ? failureRoundTripMs : Infinity)
    this.#fastestRefusalMs.set(candidate, fastest)
    return fastest
  }

  #retry (candidate: Candidate, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#retries.delete(timer)
      this.#dial(candidate)
    }, delayMs)
    this.#retries.add(timer)
  }

  /** The candidate's budget for this punch is spent: no more dials to it. */
  #leaveAlone (candidate: Candidate, reason: 'dials' | 'connections'): void {
    if (this.#refused.has(candidate)) return
    this.#refused.add(candidate)
    this.#emit({ type: 'dial-limited', candidate: candidate.label, reason, retryInMs: null })
  }

  /** Runs the handshake over a connection that came up; it wins, is dropped, or (leader) passed over. */
  async #authenticate (link: Link, theirHello?: Hello): Promise<void> {
    this.#links.add(link)
    // The handshake is a volley of small frames: Nagle plus delayed ACKs would add ~40 ms per turn.
    link.socket.setNoDelay(true)
    let result: HandshakeResult
    try {
      result = await handshake(link.socket, link.reader, {
        introductionId: this.introduction.id,
        selfId: this.introduction.self.id,
        peerId: this.introduction.peer.id,
        secret: this.#secret,
        identity: this.#options.identity,
        peerKey: this.#options.peerKey,
        encrypt: this.#options.encrypt,
        leader: this.leader,
        chooser: this.#selection.chooserFor(link),
        theirHello,
        // Over the relay, the other side may attach up to its own head start later: the punch's deadline bounds it
        // (and comes first, with its PunchTimeoutError).
        timeoutMs: link.via === 'relay' ? Math.max(1, this.#remainingMs) + RELAY_HANDSHAKE_GRACE_MS : undefined,
        onAuthenticated: () => {
          if (this.#done) return
          this.#emit({ type: 'authenticated', via: link.via, path: link.path, remote: label(link.remote) })
          this.#stopDialing() // the race is decided: no more SYNs
        }
      })
    } catch (error) {
      // It holds the introduction's secret but not the peer's key: an impostor, not a stranger. Stop here.
      if (error instanceof PeerKeyMismatchError) this.#fail(error)
      else this.#drop(link, error as Error)
      return
    }
    if (result.kept) void this.#win(link, result.encrypt)
    else this.#drop(link, new HandshakeInterruptedError('another connection was chosen'))
  }

  #stopDialing (): void {
    this.#dialing = false
    this.#stopSpray('authenticated')
    for (const timer of this.#retries) clearTimeout(timer)
    this.#retries.clear()
  }

  /** Every authenticated connection was lost before one was agreed on: punch again. */
  #resumeDialing (): void {
    if (this.#dialing || this.#done) return
    this.#dialing = true
    for (const candidate of this.#candidates) this.#dial(candidate)
  }

  #drop (link: Link, error: Error): void {
    if (!this.#links.delete(link)) return
    link.socket.destroy()
    if (this.#done) return
    this.#emit({ type: 'rejected', via: link.via, remote: label(link.remote), reason: error.message })
    // Something that is provably not our peer (a stranger at a candidate address) is not dialed again;
    // an interrupted handshake is dialed again, as if the dial had been reset.
    const interrupted = error instanceof HandshakeInterruptedError
    if (link.candidate !== undefined && !interrupted) this.#refused.add(link.candidate)
    if (link.candidate !== undefined) {
      const failed = (this.#failedConnections.get(link.candidate) ?? 0) + 1
      this.#failedConnections.set(link.candidate, failed)
      if (failed >= MAX_FAILED_CONNECTIONS_PER_CANDIDATE) this.#leaveAlone(link.candidate, 'connections')
    }
    const stillOffering = this.#selection.release(link)
    // Someone else at a sprayed port, or a connection up on one side only: spray on.
    if (this.#sprayLinks.delete(link) && this.#sprayLinks.size === 0 && this.#dialing) this.#spray?.resume()
    // Each side attaches to an introduction's relay once: a relayed connection lost is the relay lost.
    if (link.via === 'relay') this.#relayFailed(error, { attach: false })
    if (this.#done) return
    if (this.#dialing) {
      if (link.candidate !== undefined && interrupted) this.#dialFailed(link.candidate, 'ECONNRESET', 0)
    } else if (this.leader && !stillOffering && this.#links.size === 0) {
      this.#resumeDialing()
    }
  }

  async #win (link: Link, encrypt: boolean): Promise<void> {
    if (this.#done) return
    this.#links.delete(link)
    this.#sockets.delete(link.socket)
    this.#phase = 'securing'
    const tcp = link.reader.release()
    // TLS starts first (the follower's ClientHello leaves now), then everything but this connection ends; TLS has its own deadline.
    const securing = encrypt ? secure(tcp, { leader: this.leader, identity: this.#options.identity, peerKey: this.#options.peerKey }) : undefined
    this.#settle()
    let socket: Socket = tcp
    if (securing !== undefined) {
      try {
        socket = await securing
      } catch (error) {
        tcp.destroy()
        this.#fail(error as Error)
        return
      }
      // Destroyed (aborted, preempted, the peer closed) while TLS ran: the punch has failed already.
      if (this.phase === 'failed') {
        socket.destroy()
        return
      }
    }
    this.#phase = 'connected'
    socket.on('error', ignoreUnhandledError)
    keepAlive(socket, this.#options.keepAliveMs, tcp)
    const connection: PunchedConnection = {
      socket,
      peerId: this.introduction.peer.id,
      peerKey: this.#options.peerKey.text,
      encrypted: encrypt,
      introductionId: this.introduction.id,
      via: link.via,
      path: link.path,
      remote: link.remote,
      elapsedMs: this.elapsedMs,
      dials: this.dials,
      attempts: this.dials
    }
    this.#emit({ type: 'connected', via: link.via, path: link.path, remote: label(link.remote), dials: this.dials, attempts: this.dials, encrypted: encrypt })
    this.#resolve(connection)
  }

  #fail (error: Error): void {
    if (this.#phase === 'connected' || this.#phase === 'failed') return
    this.#phase = 'failed'
    const code = error instanceof PunchlineError ? error.code : codeOf(error)
    this.#stopSpray('ended')
    this.#emit({ type: 'failed', code, message: error.message, dials: this.dials, attempts: this.dials })
    this.#settle()
    this.#reject(error)
  }

  /** The one cleanup path: no timer, listener or socket outlives the punch but the winner. */
  #settle (): void {
    clearTimeout(this.#deadline)
    clearTimeout(this.#relayTimer)
    this.#relayAbort.abort()
    this.#stopSpray('ended')
    this.#stopDialing()
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    this.#selection.end()
    this.#links.clear()
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
  }
}
