// Every event the SDK reports, as one typed union: a punch's steps, the
// registration session's life, the peer's decisions, and the tunnels of
// port forwarding. Give `onTrace` when opening a Peer, Exposure or Forwarder
// to see all of them from the first; the `trace` event carries the same.
import type { Endpoint, Introduction, Mapping } from '@punchline/protocol'
import type { Path } from './punch/candidates.js'

/** connect(): our dial completed (simultaneous open included); accept(): the peer's dial reached our listener. */
export type Via = 'connect' | 'accept'

interface PunchEventBase {
  introductionId: string
  /** The other peer. */
  peerId: string
  /** Since the punch started, ms. */
  elapsedMs: number
}

/** The steps of one punch, from an introduction to one authenticated connection. */
export type PunchEvent = PunchEventBase & (
  | {
    type: 'introduced'
    role: Introduction['role']
    candidates: string[]
    /** The peer's endpoints not dialed, and why (address-safety policy). */
    skipped: string[]
    leader: boolean
  }
  | {
    type: 'dial'
    candidate: string
    /** This dial's number within the punch. */
    dial: number
    /** @deprecated the same as `dial`. */
    attempt: number
  }
  | { type: 'dial-failed', candidate: string, code: string, retryInMs: number | null }
  /** The punch's budget says no: spent for this candidate (dials, connections), or the address's SYN rate (retried). */
  | { type: 'dial-limited', candidate: string, reason: 'dials' | 'connections' | 'address-rate', retryInMs: number | null }
  | { type: 'accepted', remote: string }
  | { type: 'authenticated', via: Via, path: Path, remote: string }
  | { type: 'rejected', via: Via, remote: string, reason: string }
  | {
    type: 'connected'
    via: Via
    path: Path
    remote: string
    dials: number
    /** @deprecated the same as `dials`. */
    attempts: number
    /** TLS 1.3 protects the connection. */
    encrypted: boolean
  }
  | {
    type: 'failed'
    code: string
    message: string
    dials: number
    /** @deprecated the same as `dials`. */
    attempts: number
  }
)

/** The registration with the rendezvous server: registered, why it is retrying, and the NAT's mapping. */
export type SessionEvent =
  | { type: 'registered', id: string, publicEndpoint: Endpoint, privateEndpoints: Endpoint[], localPort: number }
  | { type: 'server-unreachable', message: string, retryInMs: number }
  /** The server said "not now" (429 or 503): the session waits what it asked for. */
  | { type: 'rate-limited', serverCode: string, message: string, retryInMs: number }
  | { type: 'registration-lost', message: string, retryInMs: number }
  /** A setting leaves a connection silent longer than NATs are known to remember it (see keepAliveMs). */
  | { type: 'idle-gap-warning', connection: 'server' | 'punched', idleGapMs: number, message: string }
  /**
   * The server's verdict on our NAT's mapping, from the probe sent from the
   * punch port to its mapping port: where it saw the API connection and the
   * probe come from. Introductions made from now on carry it.
   */
  | { type: 'mapping', mapping: Mapping, publicEndpoint: Endpoint, probeEndpoint: Endpoint, elapsedMs: number }
  /** No verdict from this probe: the server has no mapping port, or the probe failed (the mapping stays what the server last said). */
  | { type: 'mapping-unknown', reason: 'not-offered' | 'probe-failed', message: string }
  /**
   * The server observed our IPv6 endpoint, from a request sent from the IPv6
   * punch port: introductions made from now on carry it, and punches race it.
   */
  | { type: 'ipv6-endpoint', ipv6Endpoint: Endpoint, elapsedMs: number }
  /** The IPv6 observation failed (the server's name has no IPv6 address, no IPv6 route, a firewall): punches go over IPv4 only. */
  | { type: 'ipv6-endpoint-unknown', message: string }
  /**
   * The IPv6 punch port: not on the IPv4 port's number, which was taken on
   * IPv6 (`port` is the one it got), or not at all (`port` null: no IPv6 here).
   */
  | { type: 'ipv6-port', port: number | null, ipv4Port: number, message: string }

/**
 * Why an introduction is not punched: the peer is not allowed, too many
 * punches are under way, it expired waiting, it is not for us, or it names
 * another key than the one pinned or recorded for the peer (or none).
 */
export type DeclineReason = 'not-allowed' | 'busy' | 'expired' | 'invalid' | 'key-mismatch'

/** The peer's own decisions about introductions and their outcomes. */
export type DecisionEvent =
  | { type: 'declined', introductionId: string, peerId: string, reason: DeclineReason, message?: string }
  /** Too many punches under way: this one waits for a slot. */
  | { type: 'punch-queued', introductionId: string, peerId: string, queued: number }
  | { type: 'outcome-reported', introductionId: string, outcome: 'connected' | 'failed' }
  | { type: 'outcome-report-failed', introductionId: string, message: string }

/** Everything a Peer reports. */
export type PeerEvent = PunchEvent | SessionEvent | DecisionEvent

/** Port forwarding: tunnels (one punched connection each) and the streams they carry. */
export type TunnelEvent =
  | { type: 'tunnel-up', side: 'expose' | 'forward', peerId: string, via: Via, path: Path, remote: string, punchMs?: number }
  | { type: 'tunnel-down', peerId: string, remote: string }
  | { type: 'listening', host: string, port: number, target: string }
  | { type: 'stream-opened', peerId: string, streamId: number, client?: string }
  | { type: 'stream-closed', peerId: string, streamId: number, client?: string, bytesIn: number, bytesOut: number, durationMs: number }
  | { type: 'stream-refused', peerId: string, streamId?: number, client?: string, reason: string }

/** Every event of the SDK. */
export type TraceEvent = PeerEvent | TunnelEvent

export type TraceListener<E extends TraceEvent = TraceEvent> = (event: E) => void
