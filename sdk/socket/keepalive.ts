// Keeping a connection's NAT mappings alive while it is idle, and finding out
// when its path has died. TCP keepalive does both without a byte of the
// application's stream: after `keepAliveMs` without traffic the kernel sends
// an empty probe segment, which the peer ACKs, and both refresh every NAT and
// firewall entry on the path. Unanswered probes end the connection.
import type { Socket } from 'node:net'
import { PathDeadError } from '../errors.js'
import type { SessionEvent } from '../trace.js'

/**
 * Idle time before the first probe, and between probes while the peer answers.
 * NATs forget idle TCP mappings after minutes (RFC 5382 asks for at least
 * 124 min; cloud NATs: Azure 4 min, AWS NAT gateway 350 s; home gateways and
 * carrier-grade NATs have been measured at a few minutes). 25 s is the
 * interval WireGuard recommends as working with "a wide variety of
 * firewalls", and our tunnel's HTTP/2 PING interval: one probe and its ACK,
 * ~66 bytes each, per 25 s idle.
 */
export const DEFAULT_KEEPALIVE_MS = 25_000
/**
 * libuv (Node's socket layer, since 1.45) sets these next to the idle time,
 * on Linux, macOS and Windows alike: 10 probes, 1 s apart, all unanswered
 * end the connection. Measured on Linux with Node 20, 22 and 26: 1 s idle,
 * then ETIMEDOUT 11.2 s after the path was cut.
 */
export const KEEPALIVE_PROBES = 10
export const KEEPALIVE_PROBE_INTERVAL_MS = 1000
/**
 * The longest a connection of ours should stay silent: the shortest NAT idle
 * timeout we plan for. TCP mappings usually last minutes, but UDP-era
 * practice (WireGuard's 25 s) and the worst home gateways say: stay under 30 s.
 */
export const SAFE_IDLE_GAP_MS = 30_000
/** The kernel counts the idle time in whole seconds. */
export const MIN_KEEPALIVE_MS = 1000

/**
 * How long after its path died an idle connection ends with PathDeadError.
 * A connection with unacknowledged data in flight sends no probes: its own
 * retransmissions time out instead (Linux: net.ipv4.tcp_retries2, ~15 min by
 * default; the tunnel's HTTP/2 PING watchdog covers tunnels).
 */
export function deadPathBoundMs (keepAliveMs: number): number {
  return keepAliveMs + KEEPALIVE_PROBES * KEEPALIVE_PROBE_INTERVAL_MS
}

/**
 * Turns TCP keepalive on (`keepAliveMs` > 0) for the TCP connection `tcp`,
 * and makes `socket` (the same, or the TLS socket over it) end with a
 * PathDeadError instead of the kernel's bare ETIMEDOUT: probes or
 * retransmissions went unanswered, which on an established connection always
 * means the path is gone.
 */
export function keepAlive (socket: Socket, keepAliveMs: number, tcp: Socket = socket): void {
  if (keepAliveMs > 0) tcp.setKeepAlive(true, keepAliveMs)
  // Read now: a socket whose path died no longer knows its peer's address.
  const peer = `${tcp.remoteAddress ?? '?'}:${tcp.remotePort ?? '?'}`
  // Node ends a socket whose read or write fails through socket.destroy(error):
  // this instance's destroy names the failure before anyone sees it.
  const destroy = socket.destroy.bind(socket)
  socket.destroy = (error?: Error) => destroy(isTimedOut(error) ? pathDead(peer, keepAliveMs, error) : error)
}

function isTimedOut (error: Error | undefined): error is NodeJS.ErrnoException {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
}

function pathDead (peer: string, keepAliveMs: number, cause: Error): PathDeadError {
  const why = keepAliveMs > 0
    ? `no answer to keepalive probes or data for ${KEEPALIVE_PROBES} s`
    : 'data went unacknowledged (keepalive is off)'
  return new PathDeadError(`the path to ${peer} is dead: ${why}`, { cause })
}

type IdleGapWarning = Extract<SessionEvent, { type: 'idle-gap-warning' }>

/**
 * What the settings leave silent for longer than SAFE_IDLE_GAP_MS: the
 * connection to the server (quiet for a poll's whole wait unless keepalive
 * probes it sooner), and punched connections (quiet between probes).
 */
export function idleGapWarnings ({ pollWaitSeconds, keepAliveMs }: { pollWaitSeconds: number, keepAliveMs: number }): IdleGapWarning[] {
  const warnings: IdleGapWarning[] = []
  const pollWaitMs = pollWaitSeconds * 1000
  const serverGapMs = keepAliveMs > 0 ? Math.min(keepAliveMs, pollWaitMs) : pollWaitMs
  if (serverGapMs > SAFE_IDLE_GAP_MS) {
    warnings.push({
      type: 'idle-gap-warning',
      connection: 'server',
      idleGapMs: serverGapMs,
      message: `the connection to the server may be silent for ${serverGapMs / 1000} s (pollWaitSeconds ${pollWaitSeconds}, keepAliveMs ${keepAliveMs}): ` +
        `a NAT that forgets it sooner breaks the registration; keep pollWaitSeconds or keepAliveMs at ${SAFE_IDLE_GAP_MS / 1000} s or less`
    })
  }
  if (keepAliveMs > SAFE_IDLE_GAP_MS) {
    warnings.push({
      type: 'idle-gap-warning',
      connection: 'punched',
      idleGapMs: keepAliveMs,
      message: `idle punched connections send a keepalive probe only every ${keepAliveMs / 1000} s: a NAT that forgets them sooner cuts them; ` +
        `keep keepAliveMs at ${SAFE_IDLE_GAP_MS / 1000} s or less, or 0 when the application sends its own keepalives`
    })
  }
  return warnings
}
