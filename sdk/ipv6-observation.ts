// Has the rendezvous server observe our IPv6 endpoint: one request from the
// IPv6 punch port to the server's name resolved over IPv6 (see
// RendezvousClient.observeIpv6). The registration's own connection stays on
// IPv4, where the NAT's mapping is what the server must see; this request
// adds the IPv6 endpoint, which introductions then carry, so that punches
// race both families. It runs after every registration and on every new
// server connection (we may have moved: the server shows the endpoint only
// while our public address is the one it was observed with). One run at a
// time, in the background, bounded by a timeout, never retried: a failure
// leaves us without an IPv6 endpoint until the next connection.
import { performance } from 'node:perf_hooks'
import type { Endpoint } from '@punchline/protocol'
import { OneRun } from './one-run.js'
import type { RendezvousClient } from './rendezvous.js'
import type { SessionEvent } from './trace.js'

/** Like the mapping probe: a TCP handshake, a TLS one for https, one request, within reach of a 1 s round trip. */
export const IPV6_OBSERVATION_TIMEOUT_MS = 5000

export interface Ipv6ObserverOptions {
  client: RendezvousClient
  /** The registration the observation is for, as it is now. */
  credentials: () => { id: string, token: string }
  onEvent: (event: SessionEvent) => void
  /** Ends a run under way (the session stops). */
  signal: AbortSignal
}

export class Ipv6Observer {
  readonly #options: Ipv6ObserverOptions
  #endpoint: Endpoint | undefined
  readonly #runs = new OneRun()
  /** The server connection last observed from (RendezvousClient.connections). */
  #connection = -1

  constructor (options: Ipv6ObserverOptions) {
    this.#options = options
  }

  /** Our IPv6 endpoint as the server last observed it, if it did. */
  get endpoint (): Endpoint | undefined {
    return this.#endpoint
  }

  /** A registration was answered: a new one has no IPv6 endpoint yet. */
  registered (): void {
    this.#connection = this.#options.client.connections
    this.#endpoint = undefined
    this.#run()
  }

  /** A request was answered: on a connection not observed from yet, observes again. */
  answered (): void {
    const { client } = this.#options
    if (this.#runs.busy || client.connections === this.#connection) return
    this.#connection = client.connections
    this.#run()
  }

  /** Resolves when no run is under way, or after `waitMs`. */
  async settled (waitMs: number): Promise<void> {
    await this.#runs.settled(waitMs)
  }

  /** Resolves once a run under way has ended (after the signal, at once). */
  async stopped (): Promise<void> {
    await this.#runs.stopped()
  }

  #run (): void {
    const { client, signal } = this.#options
    if (signal.aborted || !client.canObserveIpv6) return
    this.#runs.start(async () => { await this.#observe() })
  }

  async #observe (): Promise<void> {
    const { client, credentials, onEvent, signal } = this.#options
    const { id, token } = credentials()
    const started = performance.now()
    try {
      const { ipv6Endpoint } = await client.observeIpv6(id, token, { timeoutMs: IPV6_OBSERVATION_TIMEOUT_MS, signal })
      if (credentials().token !== token) return // registered again meanwhile: that registration is observed on its own
      this.#endpoint = ipv6Endpoint
      onEvent({ type: 'ipv6-endpoint', ipv6Endpoint, elapsedMs: Math.round(performance.now() - started) })
    } catch (error) {
      if (signal.aborted) return
      onEvent({ type: 'ipv6-endpoint-unknown', message: (error as Error).message })
    }
  }
}
