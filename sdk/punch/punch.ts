// One punch attempt: from an introduction to one authenticated connection.
//
//   punching  - dial every candidate from the punch port, retrying failed dials
//               on the schedule in ./schedule.ts, while connections accepted on
//               the port for this introduction are handed in through adopt();
//               every connection that comes up, either way, runs the handshake
//   connected - the leader (smaller peer id) SELECTed one connection and the
//               follower CONFIRMed it, both after checking each other's PROOF;
//               everything else closed
//   failed    - timeout, abort or destroy()
//
// run() is memoised and destroy() idempotent; every path ends in #settle(),
// which clears every timer and listener and closes every other socket.
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import type { Endpoint, Introduction } from '@punchline/protocol'
import { AbortedError, AuthenticationFailedError, HandshakeInterruptedError, PunchlineError, PunchTimeoutError } from '../errors.js'
import type { LocalAddress, PortSockets } from '../socket/port-sockets.js'
import { candidatesFor, endpointLabel as label, pathOf, type Candidate, type Path } from './candidates.js'
import { FrameReader, FrameType, decodeHello, encodeFrame, encodeHello, newNonce, proofMatches, proofOf, type Hello } from './handshake.js'
import { DIAL_TIMEOUT_MS, meansAlreadyConnected, retryDelayMs } from './schedule.js'

/**
 * HELLO and PROOF both ways must be done within this long of the connection
 * coming up (they take one round trip each). A silent connection is dropped
 * and its candidate dialed again.
 */
export const HANDSHAKE_TIMEOUT_MS = 2000
/** The leader waits this long for CONFIRM before trying another connection. */
export const CONFIRM_TIMEOUT_MS = 3000

export type Via = 'connect' | 'accept'
export type Phase = 'idle' | 'punching' | 'connected' | 'failed'

export interface PunchedConnection {
  /** The authenticated connection; the application's bytes start here. */
  socket: Socket
  peerId: string
  introductionId: string
  /** connect(): our dial completed (simultaneous open included); accept(): the peer's dial reached our listener. */
  via: Via
  path: Path
  remote: Endpoint
  /** From the start of the attempt to the confirmed connection. */
  elapsedMs: number
  /** Dials made (each sends SYNs). */
  attempts: number
}

interface EventBase { introductionId: string, peerId: string, elapsedMs: number }
export type PunchEvent = EventBase & (
  | { type: 'introduced', role: Introduction['role'], candidates: string[], leader: boolean }
  | { type: 'dial', candidate: string, attempt: number }
  | { type: 'dial-failed', candidate: string, code: string, retryInMs: number | null }
  | { type: 'accepted', remote: string }
  | { type: 'authenticated', via: Via, path: Path, remote: string }
  | { type: 'rejected', via: Via, remote: string, reason: string }
  | { type: 'connected', via: Via, path: Path, remote: string, attempts: number }
  | { type: 'failed', code: string, message: string, attempts: number }
)
type EventBody = PunchEvent extends infer E ? E extends PunchEvent ? Omit<E, keyof EventBase> : never : never

export interface AttemptOptions {
  introduction: Introduction
  local: LocalAddress
  sockets: PortSockets
  timeoutMs: number
  signal?: AbortSignal | undefined
  onEvent?: ((event: PunchEvent) => void) | undefined
  random?: () => number
}

interface Link {
  socket: Socket
  reader: FrameReader
  via: Via
  path: Path
  remote: Endpoint
  candidate: Candidate | undefined
  timer: NodeJS.Timeout | undefined
}

function remoteOf (socket: Socket): Endpoint {
  return { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }
}

function codeOf (error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN'
}

export class PunchAttempt {
  readonly introduction: Introduction
  readonly leader: boolean
  readonly #options: AttemptOptions
  readonly #candidates: Candidate[]
  readonly #secret: Buffer
  readonly #random: () => number
  #phase: Phase = 'idle'
  #startedAt = 0
  #attempts = 0
  #result: Promise<PunchedConnection> | undefined
  #resolve: (connection: PunchedConnection) => void = () => {}
  #reject: (error: Error) => void = () => {}
  #deadline: NodeJS.Timeout | undefined
  readonly #retries = new Set<NodeJS.Timeout>()
  readonly #sockets = new Set<Socket>()
  readonly #links = new Set<Link>()
  readonly #authenticated: Link[] = []
  readonly #refused = new Set<Candidate>()
  #dialing = true
  #selected: Link | undefined

  constructor (options: AttemptOptions) {
    this.#options = options
    this.introduction = options.introduction
    this.leader = options.introduction.self.id < options.introduction.peer.id
    this.#candidates = candidatesFor(options.introduction)
    this.#secret = Buffer.from(options.introduction.secret, 'base64url')
    this.#random = options.random ?? Math.random
  }

  get phase (): Phase {
    return this.#phase
  }

  get #done (): boolean {
    return this.#phase === 'connected' || this.#phase === 'failed'
  }

  /** Starts the attempt (once) and resolves with the connection both peers agreed on. */
  async run (): Promise<PunchedConnection> {
    this.#result ??= new Promise<PunchedConnection>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
      this.#start()
    })
    return await this.#result
  }

  /** Ends the attempt; a pending run() rejects with `error`. Safe to call at any time, and again. */
  destroy (error: Error = new AbortedError('punch attempt destroyed')): void {
    if (this.#done) return
    if (this.#phase === 'idle') {
      this.#result = Promise.reject(error)
      this.#result.catch(() => {})
    }
    this.#fail(error)
  }

  /** A connection accepted on the punch port whose HELLO named this introduction. */
  adopt (socket: Socket, reader: FrameReader, hello: Hello): void {
    if (this.#done) {
      socket.destroy()
      return
    }
    const remote = remoteOf(socket)
    this.#emit({ type: 'accepted', remote: label(remote) })
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    void this.#authenticate({ socket, reader, via: 'accept', path: pathOf(remote, this.introduction), remote, candidate: undefined, timer: undefined }, hello)
  }

  #emit (event: EventBody): void {
    this.#options.onEvent?.({
      ...event,
      introductionId: this.introduction.id,
      peerId: this.introduction.peer.id,
      elapsedMs: Math.round((performance.now() - this.#startedAt) * 10) / 10
    } as PunchEvent)
  }

  readonly #onAbort = (): void => { this.#fail(new AbortedError('punch aborted')) }

  #start (): void {
    this.#phase = 'punching'
    this.#startedAt = performance.now()
    const { signal, timeoutMs } = this.#options
    this.#emit({ type: 'introduced', role: this.introduction.role, candidates: this.#candidates.map((candidate) => candidate.label), leader: this.leader })
    if (signal?.aborted === true) {
      this.#onAbort()
      return
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true })
    this.#deadline = setTimeout(() => {
      this.#fail(new PunchTimeoutError(`no authenticated connection to ${this.introduction.peer.id} within ${timeoutMs} ms`))
    }, timeoutMs)
    for (const candidate of this.#candidates) this.#dial(candidate)
  }

  #dial (candidate: Candidate): void {
    if (this.#done || !this.#dialing || this.#refused.has(candidate)) return
    this.#attempts++
    this.#emit({ type: 'dial', candidate: candidate.label, attempt: this.#attempts })
    const sentAt = performance.now()
    const socket = this.#options.sockets.dial(this.#options.local, candidate.endpoint)
    this.#sockets.add(socket)
    let connected = false
    // Behind a NAT that drops unsolicited SYNs the kernel keeps retransmitting; give up on this dial eventually.
    const timeout = setTimeout(() => { socket.destroy(Object.assign(new Error('dial timed out'), { code: 'ETIMEDOUT' })) }, DIAL_TIMEOUT_MS)
    socket.once('connect', () => {
      connected = true
      clearTimeout(timeout)
      void this.#authenticate({ socket, reader: new FrameReader(socket), via: 'connect', path: candidate.path, remote: candidate.endpoint, candidate, timer: undefined })
    })
    socket.once('error', (error) => {
      clearTimeout(timeout)
      if (!connected) this.#dialFailed(candidate, codeOf(error), performance.now() - sentAt)
    })
    socket.once('close', () => {
      clearTimeout(timeout)
      this.#sockets.delete(socket)
    })
  }

  #dialFailed (candidate: Candidate, code: string, failureRoundTripMs: number): void {
    if (this.#done) return
    const retryInMs = !this.#dialing
      ? null
      : meansAlreadyConnected(code)
        ? null // the peer's connection on this address pair is being handled as an accept
        : retryDelayMs({ code, failureRoundTripMs, elapsedMs: performance.now() - this.#startedAt, random: this.#random() })
    this.#emit({ type: 'dial-failed', candidate: candidate.label, code, retryInMs: retryInMs === null ? null : Math.round(retryInMs * 10) / 10 })
    if (retryInMs === null) return
    const timer = setTimeout(() => {
      this.#retries.delete(timer)
      this.#dial(candidate)
    }, retryInMs)
    this.#retries.add(timer)
  }

  async #authenticate (link: Link, theirHello?: Hello): Promise<void> {
    this.#links.add(link)
    // The handshake is a volley of small frames: Nagle plus delayed ACKs would add ~40 ms per turn.
    link.socket.setNoDelay(true)
    link.timer = setTimeout(() => { this.#drop(link, new HandshakeInterruptedError('handshake timed out')) }, HANDSHAKE_TIMEOUT_MS)
    try {
      const { introduction } = this
      const nonce = newNonce()
      link.socket.write(encodeHello({ introductionId: introduction.id, senderId: introduction.self.id, nonce }))
      const hello = theirHello ?? decodeHello(await link.reader.expect(FrameType.HELLO))
      if (hello.introductionId !== introduction.id) throw new AuthenticationFailedError('HELLO names another introduction')
      if (hello.senderId !== introduction.peer.id) throw new AuthenticationFailedError(`HELLO comes from "${hello.senderId}", not "${introduction.peer.id}"`)
      link.socket.write(encodeFrame(FrameType.PROOF, proofOf(this.#secret, introduction.id, introduction.self.id, introduction.peer.id, nonce, hello.nonce)))
      // The leader SELECTs its first connection together with its PROOF, half a round trip
      // sooner than after checking the follower's: the follower CONFIRMs only after checking ours,
      // and the leader wins only after checking the follower's PROOF and getting the CONFIRM.
      if (this.leader && this.#selected === undefined) {
        this.#selected = link
        link.socket.write(encodeFrame(FrameType.SELECT))
      }
      const proof = await link.reader.expect(FrameType.PROOF)
      if (!proofMatches(proofOf(this.#secret, introduction.id, introduction.peer.id, introduction.self.id, hello.nonce, nonce), proof.payload)) {
        throw new AuthenticationFailedError('PROOF does not match the introduction\'s secret')
      }
    } catch (error) {
      this.#drop(link, error as Error)
      return
    }
    clearTimeout(link.timer)
    if (this.#done || link.socket.destroyed) return
    this.#emit({ type: 'authenticated', via: link.via, path: link.path, remote: label(link.remote) })
    this.#authenticated.push(link)
    this.#stopDialing()
    if (!this.leader) void this.#awaitSelect(link)
    else if (this.#selected === link) this.#awaitConfirm(link)
    else this.#selectNext() // no-op while another connection's SELECT is under way
  }

  /** A connection authenticated: the race is decided, so no more SYNs. */
  #stopDialing (): void {
    this.#dialing = false
    for (const timer of this.#retries) clearTimeout(timer)
    this.#retries.clear()
  }

  /** Leader: offer the earliest authenticated connection still open, once the first offer fell through. */
  #selectNext (): void {
    if (this.#done || this.#selected !== undefined) return
    const link = this.#authenticated.find((candidate) => this.#links.has(candidate))
    if (link === undefined) {
      this.#resumeDialing()
      return
    }
    this.#selected = link
    link.socket.write(encodeFrame(FrameType.SELECT))
    this.#awaitConfirm(link)
  }

  /** Leader: the SELECTed connection wins on CONFIRM. */
  #awaitConfirm (link: Link): void {
    link.timer = setTimeout(() => { this.#drop(link, new HandshakeInterruptedError('no CONFIRM for SELECT')) }, CONFIRM_TIMEOUT_MS)
    link.reader.expect(FrameType.CONFIRM).then(() => { this.#win(link) }, (error: Error) => { this.#drop(link, error) })
  }

  /** Follower: the connection the leader SELECTs wins. */
  async #awaitSelect (link: Link): Promise<void> {
    try {
      await link.reader.expect(FrameType.SELECT)
    } catch (error) {
      this.#drop(link, error as Error)
      return
    }
    if (this.#done) return
    link.socket.write(encodeFrame(FrameType.CONFIRM))
    this.#win(link)
  }

  /** Every authenticated connection was lost before one was agreed on: punch again. */
  #resumeDialing (): void {
    if (this.#dialing || this.#done) return
    this.#dialing = true
    for (const candidate of this.#candidates) this.#dial(candidate)
  }

  #drop (link: Link, error: Error): void {
    if (!this.#links.delete(link)) return
    clearTimeout(link.timer)
    link.socket.destroy()
    if (this.#done) return
    this.#emit({ type: 'rejected', via: link.via, remote: label(link.remote), reason: error.message })
    // Something that is provably not our peer (a stranger at a candidate address) is not dialed again;
    // an interrupted handshake is dialed again, as if the dial had been reset.
    const interrupted = error instanceof HandshakeInterruptedError
    if (link.candidate !== undefined && !interrupted) this.#refused.add(link.candidate)
    const index = this.#authenticated.indexOf(link)
    if (index >= 0) this.#authenticated.splice(index, 1)
    if (this.#selected === link) {
      this.#selected = undefined
      this.#selectNext()
    } else if (link.candidate !== undefined && this.#dialing && interrupted) {
      this.#dialFailed(link.candidate, 'ECONNRESET', 0)
    }
  }

  #win (link: Link): void {
    if (this.#done) return
    clearTimeout(link.timer)
    this.#links.delete(link)
    this.#sockets.delete(link.socket)
    this.#phase = 'connected'
    const socket = link.reader.release()
    const connection: PunchedConnection = {
      socket,
      peerId: this.introduction.peer.id,
      introductionId: this.introduction.id,
      via: link.via,
      path: link.path,
      remote: link.remote,
      elapsedMs: Math.round((performance.now() - this.#startedAt) * 10) / 10,
      attempts: this.#attempts
    }
    this.#emit({ type: 'connected', via: link.via, path: link.path, remote: label(link.remote), attempts: this.#attempts })
    this.#settle()
    this.#resolve(connection)
  }

  #fail (error: Error): void {
    if (this.#done) return
    this.#phase = 'failed'
    const code = error instanceof PunchlineError ? error.code : codeOf(error)
    this.#emit({ type: 'failed', code, message: error.message, attempts: this.#attempts })
    this.#settle()
    this.#reject(error)
  }

  /** The one cleanup path: no timer, listener or socket outlives the attempt but the winner. */
  #settle (): void {
    clearTimeout(this.#deadline)
    this.#stopDialing()
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    for (const link of this.#links) clearTimeout(link.timer)
    this.#links.clear()
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    this.#authenticated.length = 0
    this.#selected = undefined
  }
}
