// What the two ends of a port forward share. One punched connection between
// the forwarding and the exposing peer carries an HTTP/2 session (Node's
// built-in nghttp2); each TCP client of the forwarding side is one CONNECT
// stream on it (RFC 9113 §8.5), spliced to its own connection to the exposed
// service. Streams have their own flow control and half-close (END_STREAM),
// so one slow client does not stall another's window, and a new client costs
// one round trip instead of a punch.
import type { Duplex } from 'node:stream'
import { Socket } from 'node:net'
import type { Http2Session, Settings } from 'node:http2'

/** The :authority of every CONNECT: the exposing side decides where streams go. */
export const TUNNEL_AUTHORITY = 'service.punchline:0'
/** Per-stream and per-connection receive windows: 64 KiB (HTTP/2's default) would cap a stream at 64 KiB per round trip. */
export const STREAM_WINDOW_BYTES = 1 << 20
export const SESSION_WINDOW_BYTES = 16 << 20
/** Streams (clients) one tunnel carries at a time; more are refused by HTTP/2 itself until some close. */
export const MAX_STREAMS_PER_TUNNEL = 256
/**
 * Streams — and so connections to the exposed service — one peer may have
 * open at a time, across all its tunnels; more are answered 429. This, not
 * the per-tunnel bound, is what caps the service connections one peer opens.
 */
export const MAX_STREAMS_PER_PEER = 256
/** Tunnels one peer may have at a time; a newer one closes the oldest. */
export const MAX_TUNNELS_PER_PEER = 2
export const TUNNEL_SETTINGS: Settings = { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false, maxConcurrentStreams: MAX_STREAMS_PER_TUNNEL }

export interface ServiceAddress {
  host: string
  port: number
}

/** Tears a stream down as an error: a TCP socket gets a reset, an HTTP/2 stream a RST_STREAM. */
function abort (stream: Duplex): void {
  if (stream instanceof Socket && !stream.destroyed && stream.readyState === 'open') stream.resetAndDestroy()
  else stream.destroy()
}

/**
 * Joins two duplex streams both ways. The end of one direction half-closes
 * the other side's sending direction; a stream that closes without ending
 * both of its directions cleanly (error, reset) aborts the other one.
 * Resolves once both have closed.
 */
export async function splice (a: Duplex, b: Duplex): Promise<void> {
  await new Promise<void>((resolve) => {
    let closed = 0
    const join = (from: Duplex, to: Duplex): void => {
      from.on('error', () => {}) // the close that follows aborts the other side
      from.once('close', () => {
        if (from.errored !== null || !from.readableEnded || !from.writableFinished) abort(to)
        if (++closed === 2) resolve()
      })
      from.pipe(to)
    }
    join(a, b)
    join(b, a)
  })
}

/**
 * Readies an HTTP/2 session (either end's) on a punched socket: the wide
 * session window, and the session's end tied to the socket's. Punched sockets
 * allow half-open connections, and HTTP/2 has no such thing: without this, a
 * peer's FIN would leave the session waiting on a dead tunnel until a
 * ping went unanswered (./liveness.ts). Errors end in 'close', which callers handle.
 */
export function bindToSocket (session: Http2Session, socket: Socket): void {
  const widen = (): void => { session.setLocalWindowSize(SESSION_WINDOW_BYTES) }
  if (session.connecting) session.once('connect', widen)
  else widen()
  socket.once('end', () => { session.destroy() })
  session.on('error', () => {})
}
