// `forward`: a local TCP listener whose clients reach a service another peer
// exposes. The first punch happens at open(), so a wrong peer id or a peer
// that does not allow us fails at once; later, each client rides the tunnel
// as one CONNECT stream, and a tunnel that went down is punched again by the
// next client.
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

interface Tunnel {
  session: ClientHttp2Session
  connection: PunchedConnection
}

/** A running forward; `trace` events carry both the Peer's events and the tunnels'. */
export class Forwarder extends EventEmitter<{ trace: [TraceEvent] }> {
  readonly peer: Peer
  readonly target: string
  readonly #listener: Server
  readonly #onTrace: TraceListener | undefined
  #tunnel: Promise<Tunnel> | undefined
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
      const peerClosed = this.peer.close() // also ends a punch under way
      const tunnel = await this.#tunnel?.catch(() => undefined)
      tunnel?.session.destroy()
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
    const remote = endpointLabel(connection.remote)
    const session = http2Connect(`http://${TUNNEL_AUTHORITY}`, { createConnection: () => connection.socket, settings: TUNNEL_SETTINGS })
    bindToSocket(session, connection.socket)
    watchLiveness(session, connection.socket)
    session.once('close', () => {
      this.#tunnel = undefined // the next client punches a new one
      this.#trace({ type: 'tunnel-down', peerId: this.target, remote })
    })
    this.#trace({ type: 'tunnel-up', side: 'forward', peerId: this.target, via: connection.via, path: connection.path, remote, punchMs: Math.round(performance.now() - started) })
    return { session, connection }
  }

  #onClient (client: Socket): void {
    const name = `${client.remoteAddress ?? '?'}:${client.remotePort ?? '?'}`
    const started = performance.now()
    client.on('error', () => {})
    this.#openStream(client, name).then((stream) => {
      let opened = false
      stream.once('response', (headers) => {
        opened = headers[':status'] === constants.HTTP_STATUS_OK
        if (opened) this.#trace({ type: 'stream-opened', peerId: this.target, client: name, streamId: stream.id ?? 0 })
        else this.#refuse(client, name, `the exposing peer answered ${String(headers[':status'])}`)
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
      const { session } = await this.#ensureTunnel()
      if (client.destroyed) throw new Error(`client ${name} went away`)
      if (!session.closed && !session.destroyed) return session.request({ ':method': 'CONNECT', ':authority': TUNNEL_AUTHORITY })
      if (tries > 0) throw new Error('the tunnel closed')
      if (this.#tunnel !== undefined && (await this.#tunnel).session === session) this.#tunnel = undefined
    }
  }

  #refuse (client: Socket, name: string, reason: string): void {
    this.#trace({ type: 'stream-refused', peerId: this.target, client: name, reason })
    if (!client.destroyed) client.resetAndDestroy()
  }
}
