// A peer's registration with the rendezvous server, kept alive: register,
// hold a long-poll for introductions (handing each new one over once), and
// ride out trouble — re-register with the same id when the server forgot us
// (401), wait what the server asks when it says "not now" (429/503 with
// Retry-After), and back off with full jitter while it is unreachable. It
// also has the server judge our NAT's mapping (./mapping-probe.ts) and
// observe our IPv6 endpoint (./ipv6-observation.ts), in the background: after
// registering, and on new server connections.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Endpoint, Introduction, Mapping, PunchReportBody } from '@punchline/protocol'
import { ServerRejectedError } from './errors.js'
import type { RendezvousClient } from './rendezvous.js'
import type { Identity } from './identity/identity.js'
import type { SessionEvent } from './trace.js'
import { MappingProber } from './mapping-probe.js'
import { Ipv6Observer } from './ipv6-observation.js'

/** Reconnecting to an unreachable server backs off from this ... */
export const RECONNECT_BASE_MS = 250
/** ... to at most this (full jitter in between). */
export const RECONNECT_MAX_MS = 10_000
/** Requests the session makes on the side (deregistering, outcome reports) get this long. */
const SIDE_REQUEST_TIMEOUT_MS = 2000
/**
 * An introduction asked for while a probe (or the IPv6 observation) is under
 * way waits for it this long at most, so that the introduction (made by the
 * server, identical on both sides) carries our mapping and IPv6 endpoint: a
 * `connect()` right after `open()` is the common case. Longer only while the
 * mapping port (or the server's IPv6 address) does not answer.
 */
export const MAPPING_WAIT_BEFORE_INTRODUCING_MS = 2000

export interface Registered {
  id: string
  token: string
  publicEndpoint: Endpoint
}

export interface SessionOptions {
  client: RendezvousClient
  /** The key the id is bound to, proven at every registration. */
  identity: Identity
  id?: string | undefined
  privateEndpoints: Endpoint[]
  ttlSeconds?: number | undefined
  pollWaitSeconds: number
  /** A new introduction for us (each one once, however often the server delivers it). */
  onIntroduction: (introduction: Introduction) => void
  onEvent: (event: SessionEvent) => void
  /** The punch port, for the `registered` event. */
  localPort: number
  random?: () => number
}

export class RegistrationSession {
  readonly #options: SessionOptions
  readonly #client: RendezvousClient
  readonly #random: () => number
  /** Introductions handed over, until they expire: the server delivers at least once. */
  readonly #seen = new Map<string, number>()
  readonly #stopping = new AbortController()
  #registration: Registered | undefined
  #cursor = 0
  #polling: Promise<void> | undefined
  readonly #prober: MappingProber
  readonly #ipv6: Ipv6Observer

  constructor (options: SessionOptions) {
    this.#options = options
    this.#client = options.client
    this.#random = options.random ?? Math.random
    this.#prober = new MappingProber({
      client: options.client,
      credentials: () => this.registration,
      onPublicEndpoint: (endpoint) => { this.registration.publicEndpoint = endpoint },
      onEvent: options.onEvent,
      signal: this.#stopping.signal
    })
    this.#ipv6 = new Ipv6Observer({ client: options.client, credentials: () => this.registration, onEvent: options.onEvent, signal: this.#stopping.signal })
  }

  /** Our IPv6 endpoint as the server last observed it, if it did. */
  get ipv6Endpoint (): Endpoint | undefined {
    return this.#ipv6.endpoint
  }

  /** The current registration; only after start() resolved. */
  get registration (): Registered {
    if (this.#registration === undefined) throw new Error('not registered yet')
    return this.#registration
  }

  /** Our NAT's mapping as the server last judged it: `unknown` until a probe says otherwise. */
  get mapping (): Mapping {
    return this.#prober.mapping
  }

  /** Registers (failing as the server or the network does), then keeps polling until stop(). */
  async start (): Promise<void> {
    await this.#register()
    this.#polling = this.#pollLoop()
  }

  /** Asks the server to introduce us to `target`; registers again first if the server forgot us. */
  async introduce (target: string, signal?: AbortSignal): Promise<Introduction> {
    // Both run at once; the introduction (made by the server, identical on both sides) should carry both.
    await Promise.all([this.#prober.settled(MAPPING_WAIT_BEFORE_INTRODUCING_MS), this.#ipv6.settled(MAPPING_WAIT_BEFORE_INTRODUCING_MS)])
    return await this.#withToken(async (token) => await this.#client.introduce(token, target, signal))
  }

  async report (introductionId: string, outcome: PunchReportBody): Promise<void> {
    await this.#client.reportOutcome(this.registration.token, introductionId, outcome, SIDE_REQUEST_TIMEOUT_MS)
  }

  /** Ends the poll and the server connection; deregisters first unless told not to. */
  async stop ({ deregister }: { deregister: boolean }): Promise<void> {
    const registration = this.#registration
    // Pipelined behind the held poll, which the server then answers: no new connection needed.
    if (deregister && registration !== undefined) await this.#client.deregister(registration.id, registration.token, SIDE_REQUEST_TIMEOUT_MS).catch(() => {})
    this.#stopping.abort()
    await this.#polling
    await this.#prober.stopped()
    await this.#ipv6.stopped()
    await this.#client.close()
  }

  async #register (): Promise<void> {
    const { id, privateEndpoints, ttlSeconds } = this.#options
    // Renewing with our token keeps a live id ours; a server that forgot us takes it as new.
    const registration = await this.#client.register({ id: this.#registration?.id ?? id, privateEndpoints, ttlSeconds }, this.#options.identity, this.#registration?.token)
    this.#registration = { id: registration.id, token: registration.token, publicEndpoint: registration.publicEndpoint }
    this.#cursor = 0
    this.#options.onEvent({ type: 'registered', id: registration.id, publicEndpoint: registration.publicEndpoint, privateEndpoints: registration.privateEndpoints, localPort: this.#options.localPort })
    this.#prober.registered(registration)
    this.#ipv6.registered()
  }


  async #withToken<T> (call: (token: string) => Promise<T>): Promise<T> {
    try {
      return await call(this.registration.token)
    } catch (error) {
      if (!(error instanceof ServerRejectedError && error.status === 401)) throw error
      await this.#register()
      return await call(this.registration.token)
    }
  }

  async #pollLoop (): Promise<void> {
    const { signal } = this.#stopping
    let failures = 0
    while (!signal.aborted) {
      try {
        const { id, token } = this.registration
        const inbox = await this.#client.poll(id, token, this.#cursor, this.#options.pollWaitSeconds, signal)
        failures = 0
        this.#cursor = inbox.cursor
        for (const introduction of inbox.introductions) this.#handOver(introduction)
        this.#prober.answered() // a new server connection (after an outage, say) may leave through a new mapping
        this.#ipv6.answered() // ... and from another network, where the server shows no IPv6 endpoint until observed again
      } catch (error) {
        if (signal.aborted) return
        try {
          if (error instanceof ServerRejectedError && error.status === 401) {
            await this.#register() // the server forgot us (restarted on a new database, or we expired)
            continue
          }
          throw error
        } catch (failure) {
          failures++
          const retryInMs = this.#retryDelay(failure, failures)
          this.#options.onEvent(this.#why(failure, retryInMs))
          await sleep(retryInMs, undefined, { signal }).catch(() => {})
        }
      }
    }
  }

  /** How long to wait after the `failures`-th failure in a row: what the server asked for, else full jitter. */
  #retryDelay (failure: unknown, failures: number): number {
    if (failure instanceof ServerRejectedError && failure.retryable && failure.retryAfterMs !== undefined) return failure.retryAfterMs
    return Math.round(this.#random() * Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** failures))
  }

  #why (failure: unknown, retryInMs: number): SessionEvent {
    const message = (failure as Error).message
    if (!(failure instanceof ServerRejectedError)) return { type: 'server-unreachable', message, retryInMs }
    if (failure.retryable) return { type: 'rate-limited', serverCode: failure.serverCode, message, retryInMs }
    return { type: 'registration-lost', message, retryInMs }
  }

  #handOver (introduction: Introduction): void {
    const now = Date.now()
    for (const [id, expiresAt] of this.#seen) if (expiresAt < now) this.#seen.delete(id)
    const expiresAt = Date.parse(introduction.expiresAt)
    if (this.#seen.has(introduction.id) || expiresAt < now) return
    this.#seen.set(introduction.id, expiresAt)
    this.#options.onIntroduction(introduction)
  }
}
