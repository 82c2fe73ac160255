// A punch port is bound twice, once per address family (IPv4 and IPv6), and
// every socket on it belongs to one family: what a local address binds, and
// how a socket bound to it reaches a remote endpoint or a name.
import { isIP, type TcpSocketConnectOpts } from 'node:net'
import type { Endpoint } from '@punchline/protocol'

export type Family = 4 | 6

/** The family a local address binds: IPv6 for an IPv6 literal, else IPv4. */
export function familyOf (host: string): Family {
  return isIP(host) === 6 ? 6 : 4
}

/**
 * How a socket bound to `local` connects to `remote`: a name is resolved in
 * the bound family only, and without Happy Eyeballs, which would try the
 * other family's addresses on new, unbound handles (Node 20 fails a socket
 * made from a bound file descriptor that way with ENOTCONN).
 */
export function connectOptions (local: { host: string }, remote: Endpoint): TcpSocketConnectOpts {
  return { port: remote.port, host: remote.address, family: familyOf(local.host), autoSelectFamily: false }
}

/**
 * Socket options for a handle bound before it connects: Node starts reading
 * a socket made from a handle at once, which fails with ENOTCONN when the
 * connect waits for a name to resolve (measured: 30 of 50 dials to
 * "localhost" on Node 20). `manualStart` (an option of Node's own, untyped)
 * leaves reading to the connect, which starts it once connected.
 */
export const START_ON_CONNECT = { manualStart: true } as const
