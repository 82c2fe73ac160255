// `expose`: makes a local TCP service reachable by chosen peers. Introductions
// from peers not allowed are declined before any punching; each punched
// connection from an allowed peer carries an HTTP/2 session whose CONNECT
// streams are spliced to new connections to the service. A forwarder whose
// tunnel runs over the relay upgrades it when it can: a direct tunnel from a
// peer with a relayed one open is the upgrade (`tunnel-upgraded`), and the
// relayed one ends once the forwarder has closed it, its streams finished.
import { EventEmitter } from 'node:events'
import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2'
import { connect } from 'node:net'
import { performance } from 'node:perf_hooks'
import { InvalidOptionError } from '../errors.js'
import { Peer, type PeerOptions } from '../peer.js'
import { endpointLabel } from '../punch/candidates.js'
import type { PunchedConnection } from '../punch/punch.js'
import type { TraceEvent, TraceListener } from '../trace.js'
import { MAX_STREAMS_PER_PEER, MAX_TUNNELS_PER_PEER, TUNNEL_SETTINGS, bindToSocket, splice, type ServiceAddress } from './tunnel.js'

export interface ExposeOptions extends Omit<PeerOptions, 'allowPeer' | 'onTrace'> {
  /** The local TCP service to expose, e.g. { host: '127.0.0.1', port: 22 }. */
  service: ServiceAddress
  /** Ids of the peers that may reach it, or '*' for any peer. */
  allow: readonly string[] | '*'
  /** Every event, the peer's and the tunnels', from the first (`registered`, during open()) on. */
  onTrace?: TraceListener | undefined
}

/** A running exposure; `trace` events carry both the Peer's events and the tunnels'. */
export class Exposure extends EventEmitter<{ trace: [TraceEvent] }> {
  readonly peer: Peer
  readonly #service: ServiceAddress
  readonly #allowed: (peerId: string) => boolean
  readonly #onTrace: TraceListener | undefined
  readonly #sessions = new Set<ServerHttp2Session>()
  /** Per allowed peer: its tunnels, oldest first, and its streams open across all of them. */
  readonly #tunnelsOf = new Map<string, ServerHttp2Session[]>()
  readonly #streamsOf = new Map<string, number>()
  /** Each tunnel's connection, and the streams open on it. */
  readonly #tunnelInfo = new Map<ServerHttp2Session, { connection: PunchedConnection, streams: number }>()
  #closed: Promise<void> | undefined

  static async open (options: ExposeOptions): Promise<Exposure> {
    const { service, allow, onTrace, ...peerOptions } = options
    if (allow !== '*' && (!Array.isArray(allow) || allow.length === 0)) {
      throw new InvalidOptionError('allow must list at least one peer id, or be "*" for any peer')
    }
    const allowed = allow === '*' ? () => true : (peerId: string) => allow.includes(peerId)
    let exposure: Exposure | undefined
    const peer = await Peer.open({
      ...peerOptions,
      allowPeer: allowed,
      // Until the exposure exists (during open) only onTrace can be listening.
      onTrace: (event) => { if (exposure === undefined) onTrace?.(event); else exposure.#trace(event) }
    })
    exposure = new Exposure(peer, service, allowed, onTrace)
    return exposure
  }

  private constructor (peer: Peer, service: ServiceAddress, allowed: (peerId: string) => boolean, onTrace: TraceListener | undefined) {
    super()
    this.peer = peer
    this.#service = service
    this.#allowed = allowed
    this.#onTrace = onTrace
    peer.on('connection', (connection: PunchedConnection) => { this.#serve(connection) })
  }

  /** Closes every tunnel (their streams are reset) and the peer. */
  async close (): Promise<void> {
    this.#closed ??= (async () => {
      for (const session of this.#sessions) session.destroy()
      await this.peer.close()
    })()
    await this.#closed
  }

  #trace (event: TraceEvent): void {
    this.#onTrace?.(event)
    this.emit('trace', event)
  }

  #serve (connection: PunchedConnection): void {
    const { peerId, socket } = connection
    // The peer declines introductions from others; this guards the tunnel itself too.
    if (!this.#allowed(peerId) || this.#closed !== undefined) {
      socket.destroy()
      return
    }
    const remote = endpointLabel(connection.remote)
    const session = performServerHandshake(socket, { settings: TUNNEL_SETTINGS })
    bindToSocket(session, socket)
    this.#sessions.add(session)
    // A peer gets a few tunnels at once (a forwarder re-punches when one dies, before this side notices,
    // or upgrades a relayed one): the newest win, the oldest close.
    const before = this.#tunnelsOf.get(peerId) ?? []
    const relayed = before.map((open) => this.#tunnelInfo.get(open)).filter((info) => info?.connection.path === 'relay')
    const tunnels = [...before, session]
    this.#tunnelsOf.set(peerId, tunnels)
    this.#tunnelInfo.set(session, { connection, streams: 0 })
    for (const old of tunnels.slice(0, Math.max(0, tunnels.length - MAX_TUNNELS_PER_PEER))) old.destroy()
    if (connection.path !== 'relay' && relayed.length > 0) {
      const relayedStreams = relayed.reduce((sum, info) => sum + info!.streams, 0)
      this.#trace({ type: 'tunnel-upgraded', side: 'expose', peerId, via: connection.via, path: connection.path, remote, relayedStreams })
    } else {
      this.#trace({ type: 'tunnel-up', side: 'expose', peerId, via: connection.via, path: connection.path, remote })
    }
    session.once('close', () => {
      this.#tunnelInfo.delete(session)
      this.#sessions.delete(session)
      const left = (this.#tunnelsOf.get(peerId) ?? []).filter((open) => open !== session)
      if (left.length === 0) this.#tunnelsOf.delete(peerId)
      else this.#tunnelsOf.set(peerId, left)
      this.#trace({ type: 'tunnel-down', peerId, remote })
    })
    session.on('stream', (stream, headers) => {
      const info = this.#tunnelInfo.get(session)
      if (info !== undefined) {
        info.streams++
        stream.once('close', () => { info.streams-- })
      }
      this.#onStream(peerId, stream, headers)
    })
  }

  #onStream (peerId: string, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const streamId = stream.id ?? 0
    const refuse = (status: number, reason: string): void => {
      this.#trace({ type: 'stream-refused', peerId, streamId, reason })
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': status }, { endStream: true })
    }
    if (headers[':method'] !== 'CONNECT') {
      refuse(constants.HTTP_STATUS_METHOD_NOT_ALLOWED, `method ${String(headers[':method'])} (only CONNECT is served)`)
      return
    }
    const open = this.#streamsOf.get(peerId) ?? 0
    if (open >= MAX_STREAMS_PER_PEER) {
      refuse(constants.HTTP_STATUS_TOO_MANY_REQUESTS, `${open} streams of this peer are open, the most it may have`)
      return
    }
    this.#streamsOf.set(peerId, open + 1)
    stream.once('close', () => {
      const left = (this.#streamsOf.get(peerId) ?? 1) - 1
      if (left === 0) this.#streamsOf.delete(peerId)
      else this.#streamsOf.set(peerId, left)
    })
    const started = performance.now()
    const service = connect({ ...this.#service, allowHalfOpen: true })
    service.once('error', (error: NodeJS.ErrnoException) => {
      if (!stream.headersSent) refuse(constants.HTTP_STATUS_BAD_GATEWAY, `service ${this.#service.host}:${this.#service.port}: ${error.code ?? error.message}`)
    })
    stream.once('close', () => { if (service.connecting) service.destroy() })
    service.once('connect', () => {
      if (stream.destroyed) {
        service.destroy()
        return
      }
      stream.respond({ ':status': constants.HTTP_STATUS_OK })
      this.#trace({ type: 'stream-opened', peerId, streamId })
      void splice(service, stream).then(() => {
        this.#trace({ type: 'stream-closed', peerId, streamId, bytesIn: service.bytesWritten, bytesOut: service.bytesRead, durationMs: Math.round(performance.now() - started) })
      })
    })
  }
}

