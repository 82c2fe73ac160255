// The bounds of the rendezvous API that both sides must agree on: the server
// enforces them through the schemas, and the SDK checks its own options and
// the server's answers against the same numbers.

/**
 * Peer ids: 1-64 characters from A-Z a-z 0-9 . _ -, but not "." or "..": an
 * id is a URL path segment, and those two are dot-segments, which URL parsers
 * remove (/v1/peers/./inbox is /v1/peers/inbox to them). No lookahead, so that
 * generators of strings from the pattern (fast-check) can read it too.
 */
export const PEER_ID_PATTERN = '^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$'
export const MAX_PEER_ID_LENGTH = 64
/** Private endpoints a peer may report. */
export const MAX_PRIVATE_ENDPOINTS = 8
/** Registration time-to-live without a request from the peer, seconds. */
export const TTL_SECONDS = { default: 90, min: 15, max: 3600 } as const
/** Long-poll wait, seconds: how long a poll is held when nothing is pending. */
export const POLL_WAIT_SECONDS = { default: 25, min: 0, max: 60 } as const
/** Introductions in one poll answer at most. */
export const POLL_BATCH_MAX = 100
/** The longest window statistics cover, and how long punch reports are kept. */
export const REPORT_RETENTION_SECONDS = 7 * 24 * 3600
export const STATS_WINDOW_DEFAULT_SECONDS = 24 * 3600
/** Bytes of an introduction's secret (before base64url). */
export const SECRET_BYTES = 32
/**
 * TCP keepalive on both ends of a relayed connection, ms: the same period as
 * the tunnel's HTTP/2 PING, well under the idle timeouts of NATs and
 * firewalls on the way to the server (a relayed connection may sit idle).
 */
export const RELAY_KEEPALIVE_MS = 25_000
