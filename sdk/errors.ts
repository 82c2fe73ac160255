// The SDK's failures: one class per failure, each with its own stable `code`
// to match on. `retryable` tells "try again later" from "this will not work";
// a server that said when (Retry-After) gives `retryAfterMs`.
import { isRetryableStatus, type ErrorCode } from '@punchline/protocol/errors'

export class PunchlineError extends Error {
  readonly code: string = 'PUNCH_ERR_UNKNOWN'
  readonly retryable: boolean = false
  override name = 'PunchlineError'
}

/** No authenticated connection within the punch timeout. */
export class PunchTimeoutError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PUNCH_TIMEOUT'
  override readonly retryable = true
  override name = 'PunchTimeoutError'
}

/**
 * Both peers' NATs map every connection to a new public port (endpoint-dependent,
 * as the server observed them): no port can be guessed on either side, so
 * nothing is dialed. Such a pair needs a relay.
 */
export class BothMappingsDependentError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT'
  override name = 'BothMappingsDependentError'
}

/** Too many punches are under way or waiting (maxConcurrentPunches): try again shortly. */
export class PunchBusyError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_BUSY'
  override readonly retryable = true
  override name = 'PunchBusyError'
}

/** The punch gave its slot to a newcomer: its peer's punches keep failing (a flood of introductions). */
export class PunchPreemptedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PREEMPTED'
  override name = 'PunchPreemptedError'
}

/** The rendezvous server has no live registration for the target peer. */
export class PeerUnknownError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PEER_UNKNOWN'
  override name = 'PeerUnknownError'
}

/** A connection failed the challenge-response, or broke the handshake protocol: someone else is at the other end. */
export class AuthenticationFailedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_AUTHENTICATION_FAILED'
  override name = 'AuthenticationFailedError'
}

/**
 * The handshake did not finish: the connection closed, broke or stayed
 * silent. Says nothing about who is at the other end (NAT races produce
 * connections that are up on one side only), unlike a failed proof.
 */
export class HandshakeInterruptedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_HANDSHAKE_INTERRUPTED'
  override name = 'HandshakeInterruptedError'
}

/** The rendezvous server could not be reached (connection refused, reset, timed out). */
export class ServerUnreachableError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_SERVER_UNREACHABLE'
  override readonly retryable = true
  override name = 'ServerUnreachableError'
}

/** The rendezvous server answered something the protocol does not allow (too big, not JSON, not the schema, not for us). */
export class InvalidResponseError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_INVALID_RESPONSE'
  override readonly retryable = true
  override name = 'InvalidResponseError'
}

/** The server was reached, but its TLS certificate cannot be verified (a private CA goes in the `ca` option). */
export class ServerUntrustedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_SERVER_UNTRUSTED'
  override name = 'ServerUntrustedError'
}

/** What a server answered that is not in the protocol's error table: `HTTP_` and the status. */
export type UnknownServerCode = `HTTP_${number}`

/**
 * The rendezvous server answered with an error: `status` and the server's
 * `serverCode` (from the protocol's error table) say which, `field` where.
 * 429 and 5xx are retryable; `retryAfterMs` is the server's Retry-After.
 */
export class ServerRejectedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_SERVER_REJECTED'
  override name = 'ServerRejectedError'
  override readonly retryable: boolean
  constructor (
    message: string,
    readonly status: number,
    readonly serverCode: ErrorCode | UnknownServerCode,
    readonly field?: string,
    readonly retryAfterMs?: number
  ) {
    super(message)
    this.retryable = isRetryableStatus(status)
  }
}

/** The operation was aborted through its AbortSignal. */
export class AbortedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_ABORTED'
  override name = 'AbortedError'
}

/** The peer was closed while the operation was under way. */
export class PeerClosedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PEER_CLOSED'
  override name = 'PeerClosedError'
}

/** The socket primitives this platform needs are not available; the message says what to use instead. */
export class PlatformUnsupportedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_UNSUPPORTED_PLATFORM'
  override name = 'PlatformUnsupportedError'
}

/** Options that cannot work, found before any work is done. */
export class InvalidOptionError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_INVALID_OPTION'
  override name = 'InvalidOptionError'
}

/**
 * An established connection's path died: the peer stopped answering (TCP
 * keepalive probes, or the acknowledgements of data sent). A NAT forgot the
 * mapping, a link or firewall went down, or the peer's host vanished. The
 * connection is gone; punch a new one.
 */
export class PathDeadError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PATH_DEAD'
  override readonly retryable = true
  override name = 'PathDeadError'
}

/**
 * The peer's key is not the one expected: the server's introduction names
 * another key than the one pinned (expectKey, peerKeys, --peer-key), or none,
 * or the peer proved another key. A malicious server, or a stranger holding
 * the id. Nothing but the handshake was sent.
 */
export class PeerKeyMismatchError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PEER_KEY_MISMATCH'
  override name = 'PeerKeyMismatchError'
}

/**
 * The peer's key differs from the one the known-peers file recorded for its
 * id at first contact (like SSH's "REMOTE HOST IDENTIFICATION HAS CHANGED").
 * If the peer really has a new key, remove its line from the file.
 */
export class PeerKeyChangedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_PEER_KEY_CHANGED'
  override name = 'PeerKeyChangedError'
}

/**
 * The server refused to attach this side to an introduction's relay, before
 * any byte was relayed: `status` and the server's `serverCode` say why
 * (`PUNCH_ERR_RELAY_LIMITED`: retry after `retryAfterMs`; `PUNCH_ERR_RELAY_DISABLED`,
 * `PUNCH_ERR_NOT_A_PARTICIPANT`, `PUNCH_ERR_RELAY_ENDED`: not with this
 * server or introduction). 429 and 5xx are retryable.
 */
export class RelayRefusedError extends PunchlineError {
  override readonly code = 'PUNCH_ERR_RELAY_REFUSED'
  override name = 'RelayRefusedError'
  override readonly retryable: boolean
  constructor (
    message: string,
    readonly status: number,
    readonly serverCode: ErrorCode | UnknownServerCode,
    readonly field?: string,
    readonly retryAfterMs?: number
  ) {
    super(message)
    this.retryable = isRetryableStatus(status)
  }
}
