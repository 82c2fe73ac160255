// `forward`: a local TCP listener whose clients reach a service another peer
// exposes. The first punch happens at open(), so a wrong peer id or a peer
// that does not allow us fails at once; later, each client rides the tunnel
// as one CONNECT stream, and a tunnel that went down is punched again by the
// next client.
//
// A tunnel that had to go through the server's relay keeps trying to go
// direct in the background (UPGRADE_DELAYS_MS: a punch with relay 'never',
// one introduction each). Once one authenticates, it is the tunnel: new
// streams take it, and the relayed session is closed gracefully (HTTP/2
// GOAWAY: its streams finish where they are, then it ends): make before
// break, no client is reset by the upgrade.
import { EventEmitter, once } from 'node:events'
import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Peer, type PeerOptions } from '../peer.js'
import { endpointLabel } from '../punch/candidates.js'
import type { PunchedConnection } from '../punch/punch.js'
import type { TraceEvent, TraceListener } from '../trace.js'
import { watchLiveness } from './liveness.js'
import { TUNNEL_AUTHORITY, TUNNEL_SETTINGS, bindToSocket, splice, type ServiceAddress } from './tunnel.js'

export interface ForwardOptions extends Omit<PeerOptions, 'onTrace'> {
  /** Id of the peer exposing the service. */
  target: string
  /** Where to accept clients, e.g. { host: '127.0.0.1', port: 2222 }; port 0 picks one. */
  listen: ServiceAddress
  /** Every event, the peer's and the tunnels', from the first (including the first punch, inside open()) on. */
  onTrace?: TraceListener | undefined
}

/**
 * When a relayed tunnel tries to go direct: this long after it came up, then
 * after each failed try the next delay, the last one over and over. Each try
 * is one introduction and one punch of up to the punch timeout on both
 * sides: a few minutes apart, a pair that stays unpunchable costs the server
 * and the NATs next to nothing.
 */
export const UPGRADE_DELAYS_MS = [5_000, 30_000, 300_000] as const

interface Tunnel {
  session: ClientHttp2Session
  connection: PunchedConnection
  /** CONNECT streams open on it. */
  streams: number
  /** A relayed tunnel's next try to go direct. */
  upgrade?: { attempt: number, timer: NodeJS.Timeout | undefined, abort: AbortController } | undefined
}

/** A running forward; `trace` events carry both the Peer's events and the tunnels'. */
export class Forwarder extends EventEmitter<{ trace: [TraceEvent] }> {
  readonly peer: Peer
  readonly target: string
  readonly #listener: Server
  readonly #onTrace: TraceListener | undefined
  #tunnel: Promise<Tunnel> | undefined
  /** The tunnel new streams take, once up. */
  #current: Tunnel | undefined
  /** Every tunnel still open: the current one, and relayed ones finishing their streams. */
  readonly #tunnels = new Set<Tunnel>()
  #closed: Promise<void> | undefined

  /** Opens the peer, punches the first tunnel, then listens for clients. */
  static async open (options: ForwardOptions): Promise<Forwarder> {
    const { target, listen, onTrace, ...peerOptions } = options
    let forwarder: Forwarder | undefined
    const peer = await Peer.open({
      ...peerOptions,
      // Until the forwarder exists (during open) only onTrace can be listening.
      onTrace: (event) => { if (forwarder === undefined) onTrace?.(event); else forwarder.#trace(event) }
    })
    forwarder = new Forwarder(peer, target, onTrace)
    try {
      await forwarder.#ensureTunnel()
      forwarder.#listener.listen(listen.port, listen.host)
      await once(forwarder.#listener, 'listening')
    } catch (error) {
      await forwarder.close()
      throw error
    }
    const { address, port } = forwarder.address
    forwarder.#trace({ type: 'listening', host: address, port, target })
    return forwarder
  }

  private constructor (peer: Peer, target: string, onTrace: TraceListener | undefined) {
    super()
    this.peer = peer
    this.target = target
    this.#onTrace = onTrace
    this.#listener = createServer({ allowHalfOpen: true }, (client) => { this.#onClient(client) })
  }

  /** The local listener's address. */
  get address (): AddressInfo {
    return this.#listener.address() as AddressInfo
  }

  /** Stops listening, resets every client and the tunnel, closes the peer. */
  async close (): Promise<void> {
    this.#closed ??= (async () => {
      this.#listener.close()
      for (const tunnel of this.#tunnels) this.#stopUpgrading(tunnel)
      const peerClosed = this.peer.close() // also ends a punch under way
      await this.#tunnel?.catch(() => undefined)
      for (const tunnel of this.#tunnels) tunnel.session.destroy()
      await peerClosed
    })()
    await this.#closed
  }

  #trace (event: TraceEvent): void {
    this.#onTrace?.(event)
    this.emit('trace', event)
  }

  /** The tunnel, punching a new one when there is none (shared by clients arriving meanwhile). */
  async #ensureTunnel (): Promise<Tunnel> {
    if (this.#tunnel === undefined) {
      const tunnel = this.#punchTunnel()
      this.#tunnel = tunnel
      tunnel.catch(() => { if (this.#tunnel === tunnel) this.#tunnel = undefined })
    }
    return await this.#tunnel
  }

  async #punchTunnel (): Promise<Tunnel> {
    const started = performance.now()
    const connection = await this.peer.connect(this.target)
    const tunnel = this.#open(connection)
    this.#trace({ type: 'tunnel-up', side: 'forward', peerId: this.target, via: connection.via, path: connection.path, remote: endpointLabel(connection.remote), punchMs: Math.round(performance.now() - started) })
    if (connection.path === 'relay') this.#upgradeLater(tunnel, 0)
    return tunnel
  }

  /** An HTTP/2 session over an authenticated connection: the tunnel new streams take from now on. */
  #open (connection: PunchedConnection): Tunnel {
    const remote = endpointLabel(connection.remote)
    const session = http2Connect(`http://${TUNNEL_AUTHORITY}`, { createConnection: () => connection.socket, settings: TUNNEL_SETTINGS })
    bindToSocket(session, connection.socket)
    watchLiveness(session, connection.socket)
    const tunnel: Tunnel = { session, connection, streams: 0 }
    this.#tunnels.add(tunnel)
    this.#current = tunnel
    session.once('close', () => {
      this.#tunnels.delete(tunnel)
      this.#stopUpgrading(tunnel)
      if (this.#current === tunnel) {
        this.#current = undefined
        this.#tunnel = undefined // the next client punches a new one
      }
      this.#trace({ type: 'tunnel-down', peerId: this.target, remote })
    })
    return tunnel
  }

  /** Schedules the relayed tunnel's next try to go direct; returns its delay. */
  #upgradeLater (tunnel: Tunnel, attempt: number): number {
    const delay = UPGRADE_DELAYS_MS[Math.min(attempt, UPGRADE_DELAYS_MS.length - 1)]!
    const upgrade = { attempt, abort: new AbortController(), timer: undefined as NodeJS.Timeout | undefined }
    upgrade.timer = setTimeout(() => {
      upgrade.timer = undefined
      void this.#tryUpgrade(tunnel)
    }, delay)
    tunnel.upgrade = upgrade
    return delay
  }

  #stopUpgrading (tunnel: Tunnel): void {
    clearTimeout(tunnel.upgrade?.timer)
    tunnel.upgrade?.abort.abort()
    tunnel.upgrade = undefined
  }

  /**
   * One try to replace a relayed tunnel with a direct one: a punch that does
   * not fall back (the relay is what it is to replace). Make before break:
   * the direct tunnel takes new streams before the relayed one is closed,
   * gracefully.
   */
  async #tryUpgrade (relayed: Tunnel): Promise<void> {
    const upgrade = relayed.upgrade
    if (upgrade === undefined || this.#closed !== undefined || this.#current !== relayed) return
    let connection: PunchedConnection
    try {
      connection = await this.peer.connect(this.target, { relay: 'never', signal: upgrade.abort.signal })
    } catch (error) {
      if (upgrade.abort.signal.aborted || this.#closed !== undefined || relayed.upgrade !== upgrade) return
      const retryInMs = this.#upgradeLater(relayed, upgrade.attempt + 1)
      this.#trace({ type: 'tunnel-upgrade-failed', peerId: this.target, message: (error as Error).message, retryInMs })
      return
    }
    if (this.#closed !== undefined || this.#current !== relayed) {
      connection.socket.destroy() // the relayed tunnel went down meanwhile: the next client punches anew
      return
    }
    relayed.upgrade = undefined
    const direct = this.#open(connection)
    this.#tunnel = Promise.resolve(direct)
    this.#trace({ type: 'tunnel-upgraded', side: 'forward', peerId: this.target, via: connection.via, path: connection.path, remote: endpointLabel(connection.remote), relayedStreams: relayed.streams })
    relayed.session.close() // GOAWAY: no new streams; it ends once its streams have
  }

  #onClient (client: Socket): void {
    const name = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`
    const started = performance.now()
    client.on('error', () => {})
    this.#openStream(client, name).then((stream) => {
      let opened = false
      let answered = false
      stream.once('response', (headers) => {
        answered = true
        opened = headers[':status'] === constants.HTTP_STATUS_OK
        if (opened) this.#trace({ type: 'stream-opened', peerId: this.target, client: name, streamId: stream.id ?? 0 })
        else this.#refuse(client, name, `the exposing peer answered ${String(headers[':status'])}`)
      })
      // Ended before any answer: reset by the exposing peer (or by us, the client gone), or its tunnel lost.
      stream.once('close', () => {
        if (!answered) this.#refuse(client, name, `the stream ended before the exposing peer answered (${stream.rstCode === undefined || stream.rstCode === constants.NGHTTP2_NO_ERROR ? 'closed' : `reset, code ${stream.rstCode}`}${stream.errored !== null ? `: ${stream.errored.message}` : ''})`)
      })
      // Spliced at once: the client's first bytes travel with the CONNECT instead of a round trip later.
      void splice(client, stream).then(() => {
        if (opened) this.#trace({ type: 'stream-closed', peerId: this.target, client: name, streamId: stream.id ?? 0, bytesIn: client.bytesRead, bytesOut: client.bytesWritten, durationMs: Math.round(performance.now() - started) })
      })
    }, (error: Error) => { this.#refuse(client, name, `no tunnel to ${this.target}: ${error.message}`) })
  }

  /** A CONNECT stream for one client; a tunnel found closing is replaced once. */
  async #openStream (client: Socket, name: string): Promise<ClientHttp2Stream> {
    for (let tries = 0; ; tries++) {
      const tunnel = await this.#ensureTunnel()
      const { session } = tunnel
      if (client.destroyed) throw new Error(`client ${name} went away`)
      if (!session.closed && !session.destroyed) {
        const stream = session.request({ ':method': 'CONNECT', ':authority': TUNNEL_AUTHORITY })
        tunnel.streams++
        stream.once('close', () => { tunnel.streams-- })
        return stream
      }
      if (tries > 0) throw new Error('the tunnel closed')
      if (this.#tunnel !== undefined && (await this.#tunnel).session === session) this.#tunnel = undefined
    }
  }

  #refuse (client: Socket, name: string, reason: string): void {
    this.#trace({ type: 'stream-refused', peerId: this.target, client: name, reason })
    if (!client.destroyed) client.resetAndDestroy()
  }
}
