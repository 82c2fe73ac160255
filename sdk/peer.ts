// A punchline peer: one local TCP port P for everything — the connection to
// the rendezvous server, a listener, and every punch dial. It registers, holds
// a long-poll for introductions (reconnecting from P and re-registering when
// needed), punches introductions it receives or asks for, and hands out
// authenticated connections.
import { EventEmitter, on } from 'node:events'
import type { AddressInfo, Server, Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Endpoint, PunchReportBody } from '@punchline/protocol'
import { AbortedError, InvalidOptionError, PeerClosedError, ServerRejectedError } from './errors.js'
import { PunchAttempt, type PunchEvent, type PunchedConnection } from './punch/punch.js'
import { FrameReader, FrameType, decodeHello } from './punch/handshake.js'
import { RendezvousClient, type Introduction } from './rendezvous.js'
import { reusePortSockets, type LocalAddress, type PortSockets } from './socket/port-sockets.js'

export const DEFAULT_PUNCH_TIMEOUT_MS = 10_000
export const DEFAULT_POLL_WAIT_SECONDS = 25
/** An accepted connection must say which introduction it belongs to within this long. */
export const ACCEPT_HELLO_TIMEOUT_MS = 2000
/** Reconnecting to an unreachable server backs off from this ... */
export const RECONNECT_BASE_MS = 250
/** ... to at most this (full jitter in between). */
export const RECONNECT_MAX_MS = 10_000
const MAX_PRIVATE_ENDPOINTS = 8
/** A punch outcome report gets this long; close() waits for reports under way. */
const REPORT_TIMEOUT_MS = 2000
/** Attempts ended by us (abort, close) say nothing about the NATs: they are not reported. */
const NOT_AN_OUTCOME = new Set([new AbortedError('').code, new PeerClosedError('').code])

export interface PeerOptions {
  /** Rendezvous server URL, e.g. http://rendezvous.example:8080 */
  server: string
  /** Peer id to register; the server generates one when absent. */
  id?: string | undefined
  /** The LAN endpoints to report; discovered from the host's interfaces when absent. */
  privateEndpoints?: Endpoint[] | undefined
  /** Local address of the punch port (IPv4). Default 0.0.0.0. */
  localAddress?: string | undefined
  /** Local port P; 0 (default) picks a free one. */
  localPort?: number | undefined
  ttlSeconds?: number | undefined
  /** Default timeout of a punch, ms. */
  punchTimeoutMs?: number | undefined
  pollWaitSeconds?: number | undefined
  /** The socket primitives (reuse-port on Node 20 through node-unix-socket by default). */
  sockets?: PortSockets | undefined
  /** For servers that require an API key to register (sent as X-API-Key). */
  apiKey?: string | undefined
  /**
   * Which peers may punch to us: an introduction from a peer for which this
   * returns false is declined (no dials, no accepts). Default: any peer.
   */
  allowPeer?: ((peerId: string) => boolean) | undefined
  /** Report each punch's outcome to the server (for its success statistics). Default true. */
  reportOutcomes?: boolean | undefined
}

export interface ConnectOptions {
  signal?: AbortSignal | undefined
  /** ms; default: the peer's punchTimeoutMs. */
  timeout?: number | undefined
}

/** Everything a peer reports: its own life, and each punch attempt's trace. */
export type PeerEvent =
  | PunchEvent
  | { type: 'registered', id: string, publicEndpoint: Endpoint, privateEndpoints: Endpoint[], localPort: number }
  | { type: 'server-unreachable', message: string, retryInMs: number }
  | { type: 'registration-lost', message: string, retryInMs: number }
  | { type: 'declined', introductionId: string, peerId: string }
  | { type: 'outcome-reported', introductionId: string, outcome: PunchReportBody['outcome'] }
  | { type: 'outcome-report-failed', introductionId: string, message: string }

export type { PunchEvent, PunchedConnection }

function validate (options: PeerOptions): Required<Omit<PeerOptions, 'id' | 'privateEndpoints' | 'ttlSeconds' | 'apiKey' | 'allowPeer' | 'reportOutcomes'>> & PeerOptions {
  const {
    server, localAddress = '0.0.0.0', localPort = 0, punchTimeoutMs = DEFAULT_PUNCH_TIMEOUT_MS,
    pollWaitSeconds = DEFAULT_POLL_WAIT_SECONDS, sockets = reusePortSockets
  } = options
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new InvalidOptionError(`server must be an http:// URL, got "${server}"`)
  }
  if (url.protocol !== 'http:') throw new InvalidOptionError(`server must be an http:// URL, got "${server}"`)
  if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) throw new InvalidOptionError(`localPort must be an integer from 0 to 65535, got ${localPort}`)
  if (!(punchTimeoutMs > 0)) throw new InvalidOptionError(`punchTimeoutMs must be a number greater than 0, got ${punchTimeoutMs}`)
  if (!Number.isInteger(pollWaitSeconds) || pollWaitSeconds < 1 || pollWaitSeconds > 60) throw new InvalidOptionError(`pollWaitSeconds must be an integer from 1 to 60, got ${pollWaitSeconds}`)
  return { ...options, server, localAddress, localPort, punchTimeoutMs, pollWaitSeconds, sockets }
}

/** This host's non-loopback IPv4 addresses, at port P. */
export function discoverPrivateEndpoints (port: number): Endpoint[] {
  return Object.values(networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .filter((address) => address.family === 'IPv4' && !address.internal)
    .slice(0, MAX_PRIVATE_ENDPOINTS)
    .map((address) => ({ address: address.address, port }))
}

export class Peer extends EventEmitter {
  readonly localPort: number
  readonly #options: ReturnType<typeof validate>
  readonly #local: LocalAddress
  readonly #listener: Server
  readonly #client: RendezvousClient
  readonly #closing = new AbortController()
  readonly #attempts = new Map<string, PunchAttempt>()
  readonly #seen = new Map<string, number>()
  readonly #unrouted = new Set<Socket>()
  readonly #reporting = new Set<Promise<void>>()
  readonly #waitingForAttempt = new Map<string, Set<(attempt: PunchAttempt | undefined) => void>>()
  #privateEndpoints: Endpoint[]
  #registration: { id: string, token: string, publicEndpoint: Endpoint }
  #cursor = 0
  /** Set by close(): the poll loop ends after the poll under way. */
  #stopping = false
  #polling: Promise<void> | undefined
  #closed: Promise<void> | undefined

  /** Binds the punch port, registers with the server and starts listening for introductions. */
  static async open (options: PeerOptions): Promise<Peer> {
    const settings = validate(options)
    let peer: Peer | undefined
    const listener = await settings.sockets.listen({ host: settings.localAddress, port: settings.localPort }, (socket) => {
      if (peer === undefined) socket.destroy()
      else peer.#onAccepted(socket)
    })
    const localPort = (listener.address() as AddressInfo).port
    const local = { host: settings.localAddress, port: localPort }
    const client = new RendezvousClient({ server: settings.server, local, sockets: settings.sockets, apiKey: settings.apiKey })
    const privateEndpoints = settings.privateEndpoints ?? discoverPrivateEndpoints(localPort)
    try {
      const registration = await client.register({ id: settings.id, privateEndpoints, ttlSeconds: settings.ttlSeconds })
      peer = new Peer(settings, local, listener, client, privateEndpoints, registration)
    } catch (error) {
      listener.close()
      await client.close()
      throw error
    }
    peer.#polling = peer.#pollLoop()
    return peer
  }

  private constructor (
    options: ReturnType<typeof validate>, local: LocalAddress, listener: Server, client: RendezvousClient,
    privateEndpoints: Endpoint[], registration: { id: string, token: string, publicEndpoint: Endpoint }
  ) {
    super()
    this.#options = options
    this.#local = local
    this.localPort = local.port
    this.#listener = listener
    this.#client = client
    this.#privateEndpoints = privateEndpoints
    this.#registration = registration
    // Emitted after open() returns, so callers can subscribe first.
    process.nextTick(() => { this.#trace({ type: 'registered', id: this.id, publicEndpoint: this.publicEndpoint, privateEndpoints, localPort: this.localPort }) })
  }

  get id (): string {
    return this.#registration.id
  }

  /** This peer's endpoint as the rendezvous server observes it (its NAT's mapping of P). */
  get publicEndpoint (): Endpoint {
    return this.#registration.publicEndpoint
  }

  get privateEndpoints (): Endpoint[] {
    return this.#privateEndpoints
  }

  /** Asks the server to introduce us to `target` and punches; resolves with the authenticated connection. */
  async connect (target: string, { signal, timeout = this.#options.punchTimeoutMs }: ConnectOptions = {}): Promise<PunchedConnection> {
    this.#assertOpen()
    let introduction: Introduction
    try {
      introduction = await this.#client.introduce(this.#registration.token, target, signal)
    } catch (error) {
      if (!(error instanceof ServerRejectedError && error.status === 401)) throw error
      await this.#reregister()
      introduction = await this.#client.introduce(this.#registration.token, target, signal)
    }
    return await this.#punch(introduction, signal, timeout)
  }

  /** Incoming authenticated connections, as they are punched (ends when the peer closes). */
  async * connections (): AsyncGenerator<PunchedConnection> {
    try {
      for await (const [connection] of on(this, 'connection', { signal: this.#closing.signal })) yield connection as PunchedConnection
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error
    }
  }

  /**
   * Stops everything: the poll, every attempt, the listener and the server
   * connection; deregisters first unless told not to. Safe to call twice.
   */
  async close ({ deregister = true }: { deregister?: boolean } = {}): Promise<void> {
    this.#closed ??= (async () => {
      this.#stopping = true
      for (const attempt of this.#attempts.values()) attempt.destroy(new PeerClosedError('peer closed'))
      for (const socket of this.#unrouted) socket.destroy()
      for (const waiters of this.#waitingForAttempt.values()) for (const resolve of waiters) resolve(undefined)
      this.#listener.close()
      await Promise.all(this.#reporting)
      // Pipelined behind the held poll, which the server then answers: no new connection needed.
      if (deregister) await this.#client.deregister(this.id, this.#registration.token, 2000).catch(() => {})
      this.#closing.abort()
      await this.#polling
      await this.#client.close()
    })()
    await this.#closed
  }

  #assertOpen (): void {
    if (this.#stopping) throw new PeerClosedError('peer is closed')
  }

  #trace (event: PeerEvent): void {
    this.emit('trace', event)
  }

  async #punch (introduction: Introduction, signal: AbortSignal | undefined, timeoutMs: number): Promise<PunchedConnection> {
    let outcome: PunchReportBody | undefined
    const attempt = new PunchAttempt({
      introduction,
      local: this.#local,
      sockets: this.#options.sockets,
      timeoutMs,
      signal,
      onEvent: (event) => {
        if (event.type === 'connected') outcome = { outcome: 'connected', via: event.via, path: event.path, elapsedMs: Math.round(event.elapsedMs), attempts: event.attempts }
        if (event.type === 'failed' && !NOT_AN_OUTCOME.has(event.code)) outcome = { outcome: 'failed', elapsedMs: Math.round(event.elapsedMs), attempts: event.attempts, errorCode: event.code }
        this.#trace(event)
      }
    })
    this.#attempts.set(introduction.id, attempt)
    for (const resolve of this.#waitingForAttempt.get(introduction.id) ?? []) resolve(attempt)
    this.#waitingForAttempt.delete(introduction.id)
    try {
      return await attempt.run()
    } finally {
      this.#attempts.delete(introduction.id)
      if (outcome !== undefined) this.#report(introduction.id, outcome)
    }
  }

  /** Tells the server how a punch ended (pipelined like every request); a failure to report is only traced. */
  #report (introductionId: string, outcome: PunchReportBody): void {
    if (this.#options.reportOutcomes === false || this.#stopping) return
    const reporting = this.#client.reportOutcome(this.#registration.token, introductionId, outcome, REPORT_TIMEOUT_MS).then(
      () => { this.#trace({ type: 'outcome-reported', introductionId, outcome: outcome.outcome }) },
      (error: Error) => { this.#trace({ type: 'outcome-report-failed', introductionId, message: error.message }) }
    ).finally(() => { this.#reporting.delete(reporting) })
    this.#reporting.add(reporting)
  }

  async #pollLoop (): Promise<void> {
    let failures = 0
    const { signal } = this.#closing
    while (!signal.aborted && !this.#stopping) {
      try {
        const inbox = await this.#client.poll(this.id, this.#registration.token, this.#cursor, this.#options.pollWaitSeconds, signal)
        failures = 0
        this.#cursor = inbox.cursor
        for (const introduction of inbox.introductions) this.#onIntroduction(introduction)
      } catch (error) {
        if (signal.aborted) return
        try {
          if (error instanceof ServerRejectedError && error.status === 401) {
            await this.#reregister() // the server forgot us (restarted on a new database, or we expired)
            continue
          }
          throw error
        } catch (failure) {
          failures++
          const retryInMs = Math.random() * Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** failures)
          this.#trace({ type: failure instanceof ServerRejectedError ? 'registration-lost' : 'server-unreachable', message: (failure as Error).message, retryInMs: Math.round(retryInMs) })
          await sleep(retryInMs, undefined, { signal }).catch(() => {})
        }
      }
    }
  }

  async #reregister (): Promise<void> {
    const registration = await this.#client.register({ id: this.id, privateEndpoints: this.#privateEndpoints, ttlSeconds: this.#options.ttlSeconds }, this.#registration.token)
    this.#registration = registration
    this.#cursor = 0
    this.#trace({ type: 'registered', id: registration.id, publicEndpoint: registration.publicEndpoint, privateEndpoints: registration.privateEndpoints, localPort: this.localPort })
  }

  #onIntroduction (introduction: Introduction): void {
    const now = Date.now()
    for (const [id, expiresAt] of this.#seen) if (expiresAt < now) this.#seen.delete(id)
    const expiresAt = Date.parse(introduction.expiresAt)
    // At-least-once delivery: an introduction seen before is a duplicate.
    if (this.#seen.has(introduction.id) || expiresAt < now) return
    this.#seen.set(introduction.id, expiresAt)
    if (this.#options.allowPeer?.(introduction.peer.id) === false) {
      this.#trace({ type: 'declined', introductionId: introduction.id, peerId: introduction.peer.id })
      return
    }
    this.#punch(introduction, this.#closing.signal, this.#options.punchTimeoutMs).then(
      (connection) => { this.emit('connection', connection) },
      () => {} // the attempt's trace carries the failure (its 'failed' event)
    )
  }

  /** A connection accepted on P: routed by the introduction its HELLO names, or dropped. */
  #onAccepted (socket: Socket): void {
    if (this.#closing.signal.aborted) {
      socket.destroy()
      return
    }
    this.#unrouted.add(socket)
    const reader = new FrameReader(socket)
    const expired = new AbortController()
    const timer = setTimeout(() => { expired.abort() }, ACCEPT_HELLO_TIMEOUT_MS)
    const route = async (): Promise<void> => {
      const hello = decodeHello(await Promise.race([
        reader.expect(FrameType.HELLO),
        new Promise<never>((resolve, reject) => { expired.signal.addEventListener('abort', () => { reject(new Error('no HELLO in time')) }, { once: true }) })
      ]))
      const attempt = await this.#attemptFor(hello.introductionId, expired.signal)
      if (attempt === undefined) throw new Error('no pending introduction')
      attempt.adopt(socket, reader, hello)
    }
    route().catch(() => { socket.destroy() }).finally(() => {
      clearTimeout(timer)
      this.#unrouted.delete(socket)
    })
  }

  /** The attempt for an introduction, waiting (until `signal` aborts) for one we have not heard of yet. */
  async #attemptFor (introductionId: string, signal: AbortSignal): Promise<PunchAttempt | undefined> {
    const attempt = this.#attempts.get(introductionId)
    if (attempt !== undefined || this.#closing.signal.aborted || signal.aborted) return attempt
    return await new Promise((resolve) => {
      let waiters = this.#waitingForAttempt.get(introductionId)
      if (waiters === undefined) {
        waiters = new Set()
        this.#waitingForAttempt.set(introductionId, waiters)
      }
      const onAbort = (): void => { done(undefined) }
      const done = (found: PunchAttempt | undefined): void => {
        signal.removeEventListener('abort', onAbort)
        waiters.delete(done)
        if (waiters.size === 0) this.#waitingForAttempt.delete(introductionId)
        resolve(found)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(done)
    })
  }
}
