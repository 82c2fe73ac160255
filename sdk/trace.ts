// Every event the SDK reports, as one typed union: a punch's steps, the
// registration session's life, the peer's decisions, and the tunnels of
// port forwarding. Give `onTrace` when opening a Peer, Exposure or Forwarder
// to see all of them from the first; the `trace` event carries the same.
import type { Endpoint, Introduction, Mapping } from '@punchline/protocol'
import type { Path } from './punch/candidates.js'
import type { SprayRole } from './punch/spray.js'
import type { RelayReason, Strategy } from './punch/strategy.js'

/**
 * connect(): our dial completed (simultaneous open included); accept(): the
 * peer's dial reached our listener; relay: both sides attached to the
 * server's relay of the introduction.
 */
export type Via = 'connect' | 'accept' | 'relay'
/** Where a connection goes: the peer's public or private endpoint, or through the server's relay. */
export type ConnectionPath = Path | 'relay'

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
    /** What the two mappings allow (see punch/strategy.ts); `candidates` is empty when no dialing is done. */
    strategy: Strategy
    /** The two NATs' mappings the introduction carries, which the strategy follows. */
    mappings: { self: Mapping, peer: Mapping }
    /** When this punch attaches to the relay, ms from its start; null: it does not. */
    relayInMs: number | null
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
  /** How this pair is punched, from both NATs' mappings as the server observed them (./punch/strategy.ts). */
  /** The spray gate is closed (another spray runs, or the last one ended less than SPRAY_MIN_GAP_MS ago). */
  | { type: 'spray-waiting', role: SprayRole, retryInMs: number }
  /** This side's part of the birthday strategy starts: `target` is the address sprayed (spray) or the endpoint opened towards (open). */
  | { type: 'spray-started', role: SprayRole, target: string, budget: number, synsPerSecond: number }
  /** What it cost: dials (each at least one SYN; an opened socket held past 1 s sends more), how they ended, and for how long, ms. */
  | { type: 'spray-ended', role: SprayRole, reason: 'authenticated' | 'ended', dials: number, connected: number, refused: number, sprayMs: number }
  | { type: 'accepted', remote: string }
  /** Attaching to the introduction's relay: no direct connection after the head start, mappings that cannot punch, or relay 'only'. */
  | { type: 'relay-attaching', reason: RelayReason }
  /** The server answered 101: the other side's bytes arrive once it has attached too. `remote` is the server. */
  | { type: 'relay-attached', remote: string }
  /** The attach failed (refused: `code` PUNCH_ERR_RELAY_REFUSED and the server's `serverCode`); punching goes on if it was. */
  | { type: 'relay-failed', code: string, serverCode?: string, message: string }
  | { type: 'authenticated', via: Via, path: ConnectionPath, remote: string }
  | { type: 'rejected', via: Via, remote: string, reason: string }
  | {
    type: 'connected'
    via: Via
    path: ConnectionPath
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
  /** A tunnel is up; `path: 'relay'` when it runs over the relay (a forwarder then tries to upgrade it, see `tunnel-upgraded`). */
  | { type: 'tunnel-up', side: 'expose' | 'forward', peerId: string, via: Via, path: ConnectionPath, remote: string, punchMs?: number }
  /** An attempt to punch a direct path for a relayed tunnel failed; the next one in `retryInMs`. */
  | { type: 'tunnel-upgrade-failed', peerId: string, message: string, retryInMs: number }
  /** A relayed tunnel got a direct one: new streams take it, the relayed tunnel's streams finish where they are (it closes when they have). */
  | { type: 'tunnel-upgraded', side: 'expose' | 'forward', peerId: string, via: Via, path: ConnectionPath, remote: string, relayedStreams: number }
  | { type: 'tunnel-down', peerId: string, remote: string }
  | { type: 'listening', host: string, port: number, target: string }
  | { type: 'stream-opened', peerId: string, streamId: number, client?: string }
  | { type: 'stream-closed', peerId: string, streamId: number, client?: string, bytesIn: number, bytesOut: number, durationMs: number }
  | { type: 'stream-refused', peerId: string, streamId?: number, client?: string, reason: string }

/** Every event of the SDK. */
export type TraceEvent = PeerEvent | TunnelEvent

export type TraceListener<E extends TraceEvent = TraceEvent> = (event: E) => void
