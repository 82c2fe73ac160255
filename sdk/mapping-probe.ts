// Has the rendezvous server judge our NAT's mapping: the mapping probe, one
// request from the punch port to the server's mapping port (see
// RendezvousClient.probeMapping). It runs when the server does not know our
// mapping — after a registration that says `unknown`, and on every new
// server connection once a request on it was answered, after reading the
// registration again (we may have moved: another network says `unknown`; a
// server that restarted may have another mapping port) — and when that
// connection shows us at another public endpoint than the last verdict was
// for (the NAT may behave otherwise now). One run at a time,
// in the background, bounded by a timeout and never retried: a failure
// leaves the mapping as the server last said, and holds up nothing.
import { performance } from 'node:perf_hooks'
import type { Endpoint, Mapping, MappingProbeOffer, Registration } from '@punchline/protocol'
import { OneRun } from './one-run.js'
import type { RendezvousClient } from './rendezvous.js'
import type { SessionEvent } from './trace.js'

/**
 * A probe gets this long: a TCP handshake, a TLS one for https, and one
 * request, about 3 round trips, within reach of a 1 s round trip (a slow
 * mobile link). A mapping port that a firewall drops costs this once per
 * server connection, in the background.
 */
export const MAPPING_PROBE_TIMEOUT_MS = 5000

/** What the server says of our registration: where it sees us, what it knows of our mapping, where to probe. */
export type RegistrationView = Pick<Registration, 'publicEndpoint' | 'mapping' | 'mappingProbe'>

export interface MappingProberOptions {
  client: RendezvousClient
  /** The registration the probe is for, as it is now. */
  credentials: () => { id: string, token: string }
  /** The server told us where it sees us now. */
  onPublicEndpoint: (endpoint: Endpoint) => void
  onEvent: (event: SessionEvent) => void
  /** Ends a run under way (the session stops). */
  signal: AbortSignal
}

export class MappingProber {
  readonly #options: MappingProberOptions
  #mapping: Mapping = 'unknown'
  #offer: MappingProbeOffer | undefined
  readonly #runs = new OneRun()
  /** The server connection last looked at (RendezvousClient.connections). */
  #connection = -1
  /** Where the server saw us when it last judged our mapping. */
  #judgedAt: Endpoint | undefined

  constructor (options: MappingProberOptions) {
    this.#options = options
  }

  /** Our mapping as the server last judged it. */
  get mapping (): Mapping {
    return this.#mapping
  }

  /** A registration was answered: takes its view, and probes when it does not know our mapping. */
  registered (view: RegistrationView): void {
    this.#connection = this.#options.client.connections
    this.#adopt(view)
    if (this.#mapping === 'unknown') this.#run(async () => { await this.#probe() })
    else this.#judgedAt = view.publicEndpoint
  }

  /**
   * A request was answered: on a connection not looked at yet, reads the
   * registration again and probes if it says `unknown`, or if the server sees
   * us at another endpoint than when it judged our mapping: a NAT that now
   * keeps our port may have been one that changed it, or the other way round
   * (the server keeps a verdict across ports of one address).
   */
  answered (): void {
    const { client, credentials, signal } = this.#options
    if (this.#runs.busy || client.connections === this.#connection) return
    this.#connection = client.connections
    this.#run(async () => {
      const { id, token } = credentials()
      let view: RegistrationView
      try {
        view = await client.getRegistration(id, token, signal)
      } catch {
        return // the poll meets whatever went wrong, and the next connection looks again
      }
      if (credentials().token !== token) return
      this.#adopt(view)
      if (this.#mapping === 'unknown' || !sameEndpoint(view.publicEndpoint, this.#judgedAt)) await this.#probe()
    })
  }

  /** Resolves when no run is under way, or after `waitMs`. */
  async settled (waitMs: number): Promise<void> {
    await this.#runs.settled(waitMs)
  }

  /** Resolves once a run under way has ended (after the signal, at once). */
  async stopped (): Promise<void> {
    await this.#runs.stopped()
  }

  #adopt (view: RegistrationView): void {
    this.#mapping = view.mapping
    this.#offer = view.mappingProbe
    this.#options.onPublicEndpoint(view.publicEndpoint)
  }

  #run (work: () => Promise<void>): void {
    if (!this.#options.signal.aborted) this.#runs.start(work)
  }

  async #probe (): Promise<void> {
    const { client, credentials, onEvent, signal } = this.#options
    if (this.#offer === undefined) {
      onEvent({ type: 'mapping-unknown', reason: 'not-offered', message: `${client.server.origin} has no mapping port` })
      return
    }
    const { id, token } = credentials()
    const started = performance.now()
    try {
      const observation = await client.probeMapping(id, token, this.#offer.port, { timeoutMs: MAPPING_PROBE_TIMEOUT_MS, signal })
      if (credentials().token !== token) return // registered again meanwhile: that registration is judged on its own
      this.#mapping = observation.mapping
      this.#judgedAt = observation.publicEndpoint
      this.#options.onPublicEndpoint(observation.publicEndpoint)
      onEvent({ type: 'mapping', mapping: observation.mapping, publicEndpoint: observation.publicEndpoint, probeEndpoint: observation.probeEndpoint, elapsedMs: Math.round(performance.now() - started) })
    } catch (error) {
      if (signal.aborted) return
      onEvent({ type: 'mapping-unknown', reason: 'probe-failed', message: (error as Error).message })
    }
  }
}

function sameEndpoint (a: Endpoint, b: Endpoint | undefined): boolean {
  return b !== undefined && a.address === b.address && a.port === b.port
}
