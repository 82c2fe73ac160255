// Finding a tunnel whose path died while data was in flight, which TCP
// keepalive cannot (the kernel sends no probes while it retransmits, and
// gives up only after ~15 min). The forwarding side pings the tunnel's
// HTTP/2 session; a ping unanswered for `timeoutMs` means the path is dead
// only if not one byte arrived from the peer meanwhile either: on a busy
// tunnel a PING's ACK waits behind the data queued ahead of it, and the data
// arriving is proof enough that the path works.
import type { Socket } from 'node:net'
import type { Http2Session } from 'node:http2'
import { PathDeadError } from '../errors.js'

/** The forwarding side pings its tunnel this often, which also keeps NAT mappings alive. */
export const PING_INTERVAL_MS = 25_000
/** A ping unanswered this long, with nothing else arriving either, means the tunnel is dead: it is closed, and the next client punches a new one. */
export const PING_TIMEOUT_MS = 10_000

export interface LivenessOptions {
  intervalMs?: number
  timeoutMs?: number
}

/**
 * Watches a tunnel's session until it closes, ending it with a PathDeadError
 * when its path dies. Dead within intervalMs + timeoutMs of the last byte from the peer.
 */
export function watchLiveness (session: Http2Session, socket: Socket, { intervalMs = PING_INTERVAL_MS, timeoutMs = PING_TIMEOUT_MS }: LivenessOptions = {}): void {
  let deadline: NodeJS.Timeout | undefined
  const ping = (): void => {
    if (deadline !== undefined || session.destroyed) return
    const bytesBefore = socket.bytesRead
    deadline = setTimeout(() => {
      deadline = undefined
      if (socket.bytesRead > bytesBefore) return // the ACK is queued behind data: the path works
      session.destroy(new PathDeadError(`the tunnel's path is dead: no answer to a ping, and no byte from the peer, for ${timeoutMs} ms`))
    }, timeoutMs)
    session.ping(() => {
      clearTimeout(deadline)
      deadline = undefined
    })
  }
  const interval = setInterval(ping, intervalMs).unref()
  session.once('close', () => {
    clearInterval(interval)
    clearTimeout(deadline)
  })
}
