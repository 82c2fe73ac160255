// A punchline peer: one local TCP port P for everything — the connection to
// the rendezvous server (a RegistrationSession), a listener whose connections
// an AcceptRouter hands to their punch, and every punch dial. It punches the
// introductions it receives or asks for — falling back to the server's relay
// when the punch cannot work (./punch/strategy.ts) — and hands out
// authenticated connections.
import { EventEmitter, on } from 'node:events'
import type { AddressInfo, Server, Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { PUNCH_FAILURE_CODES, type Endpoint, type Introduction, type Mapping, type PunchFailureCode, type PunchReportBody } from '@punchline/protocol'
import { MAX_PRIVATE_ENDPOINTS, POLL_WAIT_SECONDS } from '@punchline/protocol/limits'
import { isReportableAddress } from '@punchline/protocol/addresses'
import { AcceptRouter } from './accept-router.js'
import { AbortedError, InvalidOptionError, PeerClosedError, PeerKeyMismatchError, PunchBusyError, PunchPreemptedError, PunchTimeoutError } from './errors.js'
import { identityOf, peerKeyOf, type Identity, type IdentityKey, type PeerKey } from './identity/identity.js'
import { KnownPeers } from './identity/known-peers.js'
import { localNetworkView } from './punch/candidates.js'
import { DialBudget } from './punch/dial-budget.js'
import { Punch, type PunchedConnection } from './punch/punch.js'
import { prepareTls } from './punch/secure.js'
import { RELAY_MODES, planFor, type RelayMode } from './punch/strategy.js'
import { attachRelay } from './relay/attach.js'
import { DEFAULT_MAX_PUNCHES, PunchBusy, PunchSlots, PunchWaitEnded } from './punch-slots.js'
import { SprayGate } from './punch/spray-gate.js'
import { RendezvousClient } from './rendezvous.js'
import { RegistrationSession } from './registration-session.js'
import { DEFAULT_KEEPALIVE_MS, MIN_KEEPALIVE_MS, idleGapWarnings } from './socket/keepalive.js'
import { defaultPortSockets, type LocalAddress, type PortSockets } from './socket/port-sockets.js'
import { listenIpv6, NO_IPV6_PORT, type Ipv6Port } from './socket/ipv6-port.js'
import type { DeclineReason, PeerEvent, TraceListener } from './trace.js'

export const DEFAULT_PUNCH_TIMEOUT_MS = 10_000
/** Punches ended by us (abort, close, preemption) say nothing about the NATs: they are not reported. */
const NOT_AN_OUTCOME = new Set([new AbortedError('').code, new PeerClosedError('').code, new PunchPreemptedError('').code])

export interface PeerOptions {
  /** Rendezvous server URL, e.g. https://rendezvous.example:8443 (or http:// on a network you trust) */
  server: string
  /** CA certificates to trust for an https:// server, instead of the system's (a private CA). */
  ca?: string | Buffer | Array<string | Buffer> | undefined
  /** Peer id to register; the server generates one when absent. */
  id?: string | undefined
  /** The LAN endpoints to report; discovered from the host's interfaces when absent. */
  privateEndpoints?: Endpoint[] | undefined
  /** Local address of the punch port (IPv4). Default 0.0.0.0. */
  localAddress?: string | undefined
  /** Local port P; 0 (default) picks a free one. */
  localPort?: number | undefined
  /**
   * Punch over IPv6 too: P is also bound on `::` (the same number where it is
   * free on IPv6), the server observes our IPv6 endpoint from it, and punches
   * race IPv6 candidates with IPv4 ones. Default: on when localAddress is
   * 0.0.0.0 (every interface), off when it names one address.
   */
  ipv6?: boolean | undefined
  ttlSeconds?: number | undefined
  /** Default timeout of a punch, ms. */
  punchTimeoutMs?: number | undefined
  pollWaitSeconds?: number | undefined
  /** The socket primitives; by default Node's own (net.BoundSocket) where it has them. */
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
  /** Every event from the first (`registered`, during open()) on; the `trace` event carries the same afterwards. */
  onTrace?: TraceListener<PeerEvent> | undefined
  /** Punches under way at once (more wait in a short line, or are declined); one per remote peer. Default 8. */
  maxConcurrentPunches?: number | undefined
  /**
   * TCP keepalive, ms (whole seconds; 0: off): an idle connection — punched,
   * or to the server — sends a probe this often, which keeps every NAT's
   * mapping of it alive; a path that stops answering ends the connection with
   * PathDeadError within keepAliveMs + 10 s. Default 25 000.
   */
  keepAliveMs?: number | undefined
  /**
   * This peer's Ed25519 private key (KeyObject or PEM): its id is bound to it
   * on the server, and every connection proves it. Generated when absent (a
   * new identity per open(); keep one with identityFile()).
   */
  identity?: IdentityKey | undefined
  /** Keys pinned per peer id: that peer must prove this key, whatever the server says. */
  peerKeys?: Record<string, string> | undefined
  /**
   * A known-peers file (trust on first use, like SSH's known_hosts): the first
   * key a peer proves is recorded, and a different one later fails with
   * PeerKeyChangedError. Default: none (trust the server's introduction).
   */
  knownPeersFile?: string | undefined
  /** TLS 1.3 over every connection (used when either side asks). Default true. */
  encrypt?: boolean | undefined
  /**
   * The server's relay, for pairs that cannot punch: `auto` (default) attaches
   * to it when the punch has no authenticated connection after a head start
   * (RELAY_HEAD_START_MS), or at once when both NATs' mappings are dependent;
   * `never` only punches; `only` never punches. Incoming punches use it too.
   */
  relay?: RelayMode | undefined
}

export interface ConnectOptions {
  signal?: AbortSignal | undefined
  /** ms; default: the peer's punchTimeoutMs. */
  timeout?: number | undefined
  /** The key the target must prove (raw, base64url), whatever the server or the peerKeys say. */
  expectKey?: string | undefined
  /** This connect's use of the relay; default: the peer's `relay` option. */
  relay?: RelayMode | undefined
}

function checkRelayMode (relay: unknown, name: string): void {
  if (relay !== undefined && !(RELAY_MODES as readonly unknown[]).includes(relay)) {
    throw new InvalidOptionError(`${name} must be one of ${RELAY_MODES.map((mode) => `'${mode}'`).join(', ')}, got ${JSON.stringify(relay)}`)
  }
}

interface PeerEvents {
  trace: [PeerEvent]
  connection: [PunchedConnection]
}

function validate (options: PeerOptions): Required<Pick<PeerOptions, 'server' | 'localAddress' | 'localPort' | 'punchTimeoutMs' | 'pollWaitSeconds' | 'maxConcurrentPunches' | 'keepAliveMs'>> & PeerOptions {
  const {
    server, localAddress = '0.0.0.0', localPort = 0, punchTimeoutMs = DEFAULT_PUNCH_TIMEOUT_MS,
    pollWaitSeconds = POLL_WAIT_SECONDS.default, keepAliveMs = DEFAULT_KEEPALIVE_MS
  } = options
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new InvalidOptionError(`server must be an https:// or http:// URL, got "${server}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError(`server must be an https:// or http:// URL, got "${server}"`)
  if (!Number.isInteger(localPort) || localPort < 0 || localPort > 65535) throw new InvalidOptionError(`localPort must be an integer from 0 to 65535, got ${localPort}`)
  if (!(punchTimeoutMs > 0)) throw new InvalidOptionError(`punchTimeoutMs must be a number greater than 0, got ${punchTimeoutMs}`)
  if (!Number.isInteger(pollWaitSeconds) || pollWaitSeconds < 1 || pollWaitSeconds > POLL_WAIT_SECONDS.max) {
    throw new InvalidOptionError(`pollWaitSeconds must be an integer from 1 to ${POLL_WAIT_SECONDS.max}, got ${pollWaitSeconds}`)
  }
  for (const [peerId, key] of Object.entries(options.peerKeys ?? {})) peerKeyOf(key, `peerKeys.${peerId}`)
  if (options.privateEndpoints !== undefined && options.privateEndpoints.length > MAX_PRIVATE_ENDPOINTS) {
    throw new InvalidOptionError(`privateEndpoints may list at most ${MAX_PRIVATE_ENDPOINTS} endpoints, got ${options.privateEndpoints.length}`)
  }
  const unreportable = options.privateEndpoints?.find((endpoint) => !isReportableAddress(endpoint.address))
  if (unreportable !== undefined) {
    throw new InvalidOptionError(`privateEndpoints must be private addresses (RFC 1918 or IPv6 unique-local), got ${unreportable.address}`)
  }
  if (!Number.isInteger(keepAliveMs) || (keepAliveMs !== 0 && keepAliveMs < MIN_KEEPALIVE_MS)) {
    throw new InvalidOptionError(`keepAliveMs must be 0 (off) or an integer of at least ${MIN_KEEPALIVE_MS} (the kernel counts whole seconds), got ${keepAliveMs}`)
  }
  checkRelayMode(options.relay, 'relay')
  const { maxConcurrentPunches = DEFAULT_MAX_PUNCHES } = options
  if (!Number.isInteger(maxConcurrentPunches) || maxConcurrentPunches < 1) {
    throw new InvalidOptionError(`maxConcurrentPunches must be an integer greater than 0, got ${maxConcurrentPunches}`)
  }
  return { ...options, server, localAddress, localPort, punchTimeoutMs, pollWaitSeconds, maxConcurrentPunches, keepAliveMs }
}

/**
 * This host's private addresses, at the punch port of their family: IPv4
 * (RFC 1918) at P, then IPv6 unique-local (fc00::/7) at the IPv6 punch port
 * when there is one. What a peer may report.
 */
export function discoverPrivateEndpoints (port: number, ipv6Port?: number): Endpoint[] {
  const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? [])
    .filter((address) => !address.internal && isReportableAddress(address.address))
  const ipv4 = addresses.filter((address) => address.family === 'IPv4').map((address) => ({ address: address.address, port }))
  const ipv6 = ipv6Port === undefined ? [] : addresses.filter((address) => address.family === 'IPv6').map((address) => ({ address: address.address, port: ipv6Port }))
  return [...ipv4, ...ipv6].slice(0, MAX_PRIVATE_ENDPOINTS)
}

export class Peer extends EventEmitter<PeerEvents> {
  readonly localPort: number
  readonly privateEndpoints: Endpoint[]
  readonly #options: ReturnType<typeof validate>
  readonly #local: LocalAddress
  readonly #ipv6: Ipv6Port
  readonly #sockets: PortSockets
  readonly #listener: Server
  readonly #router: AcceptRouter
  readonly #session: RegistrationSession
  readonly #closing = new AbortController()
  readonly #punches = new Set<Punch>()
  readonly #slots: PunchSlots
  readonly #budget = new DialBudget()
  /** One spray at a time across this peer's punches, with a rest between (however many introductions arrive). */
  readonly #sprayGate = new SprayGate()
  readonly #reporting = new Set<Promise<void>>()
  readonly #identity: Identity
  readonly #knownPeers: KnownPeers | undefined
  #closed: Promise<void> | undefined

  /** Binds the punch port, registers with the server and starts listening for introductions. */
  static async open (options: PeerOptions): Promise<Peer> {
    const settings = validate(options)
    const identity = identityOf(settings.identity)
    // Either side may ask for TLS: ready for it before the first punch is won (while the peer registers).
    const tlsReady = prepareTls(identity)
    const knownPeers = settings.knownPeersFile === undefined ? undefined : await KnownPeers.open(settings.knownPeersFile)
    const sockets = settings.sockets ?? defaultPortSockets()
    const router = new AcceptRouter()
    const listener = await sockets.listen({ host: settings.localAddress, port: settings.localPort }, (socket) => { router.route(socket) })
    const ipv4Port = (listener.address() as AddressInfo).port
    const wantsIpv6 = settings.ipv6 ?? settings.localAddress === '0.0.0.0'
    const ipv6 = wantsIpv6 ? await listenIpv6(sockets, ipv4Port, (socket) => { router.route(socket) }) : NO_IPV6_PORT
    const peer = new Peer(settings, { identity, knownPeers }, sockets, listener, ipv6, router)
    for (const warning of idleGapWarnings(settings)) peer.#trace(warning)
    if (ipv6.message !== undefined) peer.#trace({ type: 'ipv6-port', port: ipv6.local?.port ?? null, ipv4Port, message: ipv6.message })
    try {
      await peer.#session.start()
    } catch (error) {
      router.close()
      listener.close()
      ipv6.listener?.close()
      await peer.#session.stop({ deregister: false }).catch(() => {})
      throw error
    }
    await tlsReady
    return peer
  }

  private constructor (options: ReturnType<typeof validate>, { identity, knownPeers }: { identity: Identity, knownPeers: KnownPeers | undefined }, sockets: PortSockets, listener: Server, ipv6: Ipv6Port, router: AcceptRouter) {
    super()
    this.#options = options
    this.#identity = identity
    this.#knownPeers = knownPeers
    this.#sockets = sockets
    this.#listener = listener
    this.#ipv6 = ipv6
    this.#router = router
    this.#slots = new PunchSlots(options.maxConcurrentPunches)
    this.localPort = (listener.address() as AddressInfo).port
    this.#local = { host: options.localAddress, port: this.localPort }
    this.privateEndpoints = options.privateEndpoints ?? discoverPrivateEndpoints(this.localPort, ipv6.local?.port)
    this.#session = new RegistrationSession({
      identity,
      client: new RendezvousClient({ server: options.server, local: this.#local, localIpv6: ipv6.local, sockets, apiKey: options.apiKey, ca: options.ca, keepAliveMs: options.keepAliveMs }),
      id: options.id,
      privateEndpoints: this.privateEndpoints,
      ttlSeconds: options.ttlSeconds,
      pollWaitSeconds: options.pollWaitSeconds,
      localPort: this.localPort,
      onIntroduction: (introduction) => { this.#onIntroduction(introduction) },
      onEvent: (event) => { this.#trace(event) }
    })
  }

  get id (): string {
    return this.#session.registration.id
  }

  /** This peer's identity key (raw Ed25519, base64url): what other peers pin. */
  get publicKey (): string {
    return this.#identity.key
  }

  /** This peer's endpoint as the rendezvous server observes it (its NAT's mapping of P). */
  get publicEndpoint (): Endpoint {
    return this.#session.registration.publicEndpoint
  }

  /** The IPv6 punch port (P where it was free on IPv6), or undefined without one. */
  get ipv6Port (): number | undefined {
    return this.#ipv6.local?.port
  }

  /** This peer's IPv6 endpoint as the server last observed it (the `ipv6-endpoint` event), if it did. */
  get ipv6Endpoint (): Endpoint | undefined {
    return this.#session.ipv6Endpoint
  }

  /**
   * How this peer's NAT maps P, as the server last judged it from the mapping
   * probe: `unknown` until the first probe is answered (see the `mapping`
   * trace event). Each introduction carries both peers' mappings as the server
   * knew them when it made it (`introduction.self.mapping`, `.peer.mapping`):
   * the same on both sides, which is what a choice of strategy must rest on.
   */
  get mapping (): Mapping {
    return this.#session.mapping
  }

  /** Asks the server to introduce us to `target` and punches; resolves with the authenticated connection. */
  async connect (target: string, { signal, timeout = this.#options.punchTimeoutMs, expectKey, relay = this.#options.relay ?? 'auto' }: ConnectOptions = {}): Promise<PunchedConnection> {
    if (this.#closed !== undefined) throw new PeerClosedError('peer is closed')
    if (expectKey !== undefined) peerKeyOf(expectKey, 'expectKey')
    checkRelayMode(relay, 'relay')
    const deadline = Date.now() + timeout
    const introduction = await this.#session.introduce(target, signal)
    try {
      return await this.#punch(introduction, signal, deadline, deadline, expectKey, relay)
    } catch (error) {
      if (error instanceof PunchBusy) throw new PunchBusyError(error.message)
      if (!(error instanceof PunchWaitEnded)) throw error
      if (signal?.aborted === true) throw new AbortedError('connect aborted')
      if (this.#closed !== undefined) throw new PeerClosedError('peer closed')
      throw new PunchTimeoutError(`no punch slot free within ${timeout} ms`)
    }
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
   * Stops everything: every punch, the listener, the poll and the server
   * connection; deregisters first unless told not to. Safe to call twice.
   */
  async close ({ deregister = true }: { deregister?: boolean } = {}): Promise<void> {
    this.#closed ??= (async () => {
      for (const punch of this.#punches) punch.destroy(new PeerClosedError('peer closed'))
      this.#router.close()
      this.#listener.close()
      this.#ipv6.listener?.close()
      await Promise.all(this.#reporting)
      await this.#session.stop({ deregister })
      this.#closing.abort()
    })()
    await this.#closed
  }

  #trace (event: PeerEvent): void {
    this.#options.onTrace?.(event)
    this.emit('trace', event)
  }

  #onIntroduction (introduction: Introduction): void {
    if (this.#closed !== undefined) return
    const { id: introductionId, peer: { id: peerId } } = introduction
    const decline = (reason: DeclineReason, message?: string): void => { this.#trace({ type: 'declined', introductionId, peerId, reason, ...(message !== undefined ? { message } : {}) }) }
    // The server is not trusted to be right: an introduction must be for us, from someone else.
    if (introduction.self.id !== this.id || peerId === this.id) return decline('invalid')
    if (this.#options.allowPeer?.(peerId) === false) return decline('not-allowed')
    try {
      this.#peerKeyFor(introduction)
    } catch (error) {
      return decline('key-mismatch', (error as Error).message)
    }
    // Waiting for a slot, the introduction may expire; then it is not worth punching.
    this.#punch(introduction, this.#closing.signal, Date.now() + this.#options.punchTimeoutMs, Date.parse(introduction.expiresAt)).then(
      (connection) => { this.emit('connection', connection) },
      (error: unknown) => {
        if (error instanceof PunchBusy) decline('busy')
        else if (error instanceof PunchWaitEnded && this.#closed === undefined) decline('expired')
        // Otherwise the punch's trace carries the failure (its 'failed' event).
      }
    )
  }

  /**
   * The key the introduced peer must prove: pinned (expectKey, peerKeys),
   * else recorded (known-peers file), else the introduction's. An
   * introduction naming another key than the pinned or recorded one, or
   * none at all, is refused before anything is sent.
   */
  #peerKeyFor (introduction: Introduction, expectKey?: string): PeerKey {
    const { id: peerId, publicKey: offered } = introduction.peer
    const pinned = expectKey ?? this.#options.peerKeys?.[peerId]
    if (pinned !== undefined) {
      if (offered !== null && offered !== pinned) throw new PeerKeyMismatchError(`the server says ${peerId}'s key is ${offered}, but ${pinned} is pinned: not punching`)
      return peerKeyOf(pinned)
    }
    if (offered !== null) this.#knownPeers?.check(peerId, offered)
    const key = offered ?? this.#knownPeers?.keyOf(peerId)
    if (key === undefined) throw new PeerKeyMismatchError(`${peerId} registered without a key and none is pinned: it cannot be authenticated`)
    return peerKeyOf(key)
  }

  /**
   * Punches an introduction once a slot is free (PunchBusy or PunchWaitEnded
   * when none comes), for no longer than `deadline`, and reports the outcome.
   */
  async #punch (introduction: Introduction, signal: AbortSignal | undefined, deadline: number, waitUntil = deadline, expectKey?: string, relay: RelayMode = this.#options.relay ?? 'auto'): Promise<PunchedConnection> {
    const peerId = introduction.peer.id
    const peerKey = this.#peerKeyFor(introduction, expectKey)
    let punch: Punch | undefined
    let preempted: PunchPreemptedError | undefined
    const slot = await this.#slots.acquire(peerId, {
      signal: signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]),
      deadlineMs: Math.min(deadline, waitUntil) - Date.now(),
      onQueued: (queued) => { this.#trace({ type: 'punch-queued', introductionId: introduction.id, peerId, queued }) },
      preempt: () => {
        preempted = new PunchPreemptedError(`${peerId}'s punches keep failing: this one yielded its slot to a newcomer`)
        punch?.destroy(preempted)
      }
    })
    // Preempted between the grant of the slot and now (another introduction of the same batch): the slot is gone.
    if (preempted !== undefined) throw preempted
    const view = localNetworkView(new URL(this.#options.server).hostname)
    const timeoutMs = Math.max(1, deadline - Date.now())
    // Both sides plan from the introduction's mappings, which they share: they attach to the same relay, or neither does.
    const plan = planFor(introduction, relay)
    punch = new Punch({
      introduction, local: this.#local, localIpv6: this.#ipv6.local, sockets: this.#sockets, view, budget: this.#budget, timeoutMs, keepAliveMs: this.#options.keepAliveMs,
      identity: this.#identity, peerKey, encrypt: this.#options.encrypt !== false, sprayGate: this.#sprayGate, signal, onEvent: (event) => { this.#trace(event) },
      punch: plan.punch,
      strategy: plan.strategy,
      relay: plan.relayAfterMs === undefined
        ? undefined
        : { afterMs: plan.relayAfterMs, reason: plan.relayReason!, attach: async ({ signal, timeoutMs }) => await this.#attachRelay(introduction.id, signal, timeoutMs) }
    })
    this.#punches.add(punch)
    if (plan.punch) this.#router.add(introduction.id, punch)
    try {
      const connection = await punch.run()
      slot.release('connected')
      await this.#knownPeers?.remember(peerId, connection.peerKey)
      this.#report(introduction.id, { outcome: 'connected', via: connection.via, path: connection.path, elapsedMs: Math.round(connection.elapsedMs), dials: connection.dials })
      return connection
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'PUNCH_ERR_UNKNOWN'
      slot.release(NOT_AN_OUTCOME.has(code) ? 'ended' : 'failed')
      // A relay that failed too carries the punch's own failure as its cause: that is what the statistics count.
      const cause = (error as { cause?: { code?: unknown } }).cause
      const isFailureCode = (value: unknown): value is PunchFailureCode => (PUNCH_FAILURE_CODES as readonly unknown[]).includes(value)
      const errorCode = isFailureCode(cause?.code) ? cause.code : isFailureCode(code) ? code : 'PUNCH_ERR_UNKNOWN'
      if (!NOT_AN_OUTCOME.has(code)) this.#report(introduction.id, { outcome: 'failed', elapsedMs: Math.round(punch.elapsedMs), dials: punch.dials, errorCode })
      throw error
    } finally {
      this.#punches.delete(punch)
      this.#router.remove(introduction.id)
    }
  }

  /** This side's attach to an introduction's relay, on a connection of its own, with the registration's token as it is now. */
  async #attachRelay (introductionId: string, signal: AbortSignal, timeoutMs: number): Promise<Socket> {
    return await attachRelay({ server: this.#options.server, ca: this.#options.ca, introductionId, token: this.#session.registration.token, signal, timeout: timeoutMs })
  }

  /** Tells the server how a punch ended (pipelined like every request); a failure to report is only traced. */
  #report (introductionId: string, outcome: PunchReportBody): void {
    if (this.#options.reportOutcomes === false || this.#closed !== undefined) return
    const reporting = this.#session.report(introductionId, outcome).then(
      () => { this.#trace({ type: 'outcome-reported', introductionId, outcome: outcome.outcome }) },
      (error: Error) => { this.#trace({ type: 'outcome-report-failed', introductionId, message: error.message }) }
    ).finally(() => { this.#reporting.delete(reporting) })
    this.#reporting.add(reporting)
  }
}
