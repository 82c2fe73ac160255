// The one table of the rendezvous API's errors. Every error body carries a
// stable `code` from here. 4xx means "your request is wrong" (the body's
// `field` says where, when a field is to blame); `retryable` errors (429,
// 5xx) mean "try again", after the Retry-After header's seconds when given.
// The server builds its error classes from this table; the SDK types the
// codes it receives with it.

export interface ErrorSpec {
  code: `PUNCH_ERR_${string}`
  status: number
  /** A printf-style template: each %s is filled by the server. */
  message: string
  retryable: boolean
}

export const ERRORS = {
  VALIDATION: { code: 'PUNCH_ERR_VALIDATION', status: 400, retryable: false, message: '%s' },
  INVALID_JSON: { code: 'PUNCH_ERR_INVALID_JSON', status: 400, retryable: false, message: 'body is not valid JSON (or has a __proto__ or constructor.prototype key)' },
  EMPTY_BODY: { code: 'PUNCH_ERR_EMPTY_BODY', status: 400, retryable: false, message: 'body is empty, but Content-Type says application/json' },
  UNSUPPORTED_MEDIA_TYPE: { code: 'PUNCH_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415, retryable: false, message: 'headers/content-type must be application/json' },
  BODY_TOO_LARGE: { code: 'PUNCH_ERR_BODY_TOO_LARGE', status: 413, retryable: false, message: 'Request body is larger than %s bytes' },
  URI_TOO_LONG: { code: 'PUNCH_ERR_URI_TOO_LONG', status: 414, retryable: false, message: 'url has a path segment over %s characters' },
  /** Any other client error the framework detects; keeps its own 4xx status. */
  BAD_REQUEST: { code: 'PUNCH_ERR_BAD_REQUEST', status: 400, retryable: false, message: '%s' },
  SELF_INTRODUCTION: { code: 'PUNCH_ERR_SELF_INTRODUCTION', status: 400, retryable: false, message: 'A peer cannot be introduced to itself' },
  TOKEN_MISSING: { code: 'PUNCH_ERR_TOKEN_MISSING', status: 401, retryable: false, message: 'This route needs "Authorization: Bearer <token>"' },
  API_KEY_INVALID: { code: 'PUNCH_ERR_API_KEY_INVALID', status: 401, retryable: false, message: 'Registering on this server needs a valid "X-API-Key" header' },
  TOKEN_INVALID: { code: 'PUNCH_ERR_TOKEN_INVALID', status: 401, retryable: false, message: 'The bearer token is unknown or its registration has expired; register again' },
  CHALLENGE_INVALID: { code: 'PUNCH_ERR_CHALLENGE_INVALID', status: 401, retryable: false, message: 'The challenge is unknown, expired or already used: get a new one (POST /v1/challenges)' },
  SIGNATURE_INVALID: { code: 'PUNCH_ERR_SIGNATURE_INVALID', status: 401, retryable: false, message: 'The signature does not match the public key over the challenge, id and key' },
  METRICS_TOKEN_INVALID: { code: 'PUNCH_ERR_METRICS_TOKEN_INVALID', status: 401, retryable: false, message: 'This server shows its metrics and statistics only with its metrics token, as "Authorization: Bearer <token>"' },
  FORBIDDEN_PEER: { code: 'PUNCH_ERR_FORBIDDEN_PEER', status: 403, retryable: false, message: 'The token belongs to peer "%s", not to peer "%s"' },
  NOT_A_PARTICIPANT: { code: 'PUNCH_ERR_NOT_A_PARTICIPANT', status: 403, retryable: false, message: 'Peer "%s" is not part of introduction "%s"' },
  PEER_NOT_FOUND: { code: 'PUNCH_ERR_PEER_NOT_FOUND', status: 404, retryable: false, message: 'No live registration for peer "%s"' },
  INTRODUCTION_NOT_FOUND: { code: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND', status: 404, retryable: false, message: 'No live introduction "%s"' },
  ROUTE_NOT_FOUND: { code: 'PUNCH_ERR_ROUTE_NOT_FOUND', status: 404, retryable: false, message: 'No route %s %s' },
  MAPPING_PORT_ONLY: { code: 'PUNCH_ERR_MAPPING_PORT_ONLY', status: 421, retryable: false, message: 'Mapping probes are answered on the mapping port only (%s): the server compares the source of that connection with the registration\'s' },
  IPV6_ONLY: { code: 'PUNCH_ERR_IPV6_ONLY', status: 400, retryable: false, message: 'An IPv6 endpoint is observed from a request over IPv6; this one came from %s' },
  REPORT_EXISTS: { code: 'PUNCH_ERR_REPORT_EXISTS', status: 409, retryable: false, message: 'Peer "%s" has already reported the outcome of introduction "%s"' },
  PEER_ID_RESERVED: { code: 'PUNCH_ERR_PEER_ID_RESERVED', status: 409, retryable: false, message: 'Peer id "%s" is bound to another key until %s; register with that key, or choose another id' },
  PEER_ID_TAKEN: { code: 'PUNCH_ERR_PEER_ID_TAKEN', status: 409, retryable: false, message: 'Peer id "%s" is registered and live; send its bearer token to renew it, or choose another id' },
  RELAY_DISABLED: { code: 'PUNCH_ERR_RELAY_DISABLED', status: 403, retryable: false, message: 'This server does not relay connections (--relay off)' },
  RELAY_ATTACHED: { code: 'PUNCH_ERR_RELAY_ATTACHED', status: 409, retryable: false, message: 'Peer "%s" has already attached to the relay of introduction "%s": each side attaches once per introduction' },
  RELAY_ENDED: { code: 'PUNCH_ERR_RELAY_ENDED', status: 410, retryable: false, message: 'The relay of introduction "%s" ended (%s) before peer "%s" attached; ask for a new introduction' },
  UPGRADE_REQUIRED: { code: 'PUNCH_ERR_UPGRADE_REQUIRED', status: 426, retryable: false, message: 'The relay is reached by an HTTP/1.1 upgrade: send "Connection: Upgrade" and "Upgrade: %s"' },
  RATE_LIMITED: { code: 'PUNCH_ERR_RATE_LIMITED', status: 429, retryable: true, message: 'Too many requests from this %s: at most %s a minute; retry in %s s' },
  INBOX_FULL: { code: 'PUNCH_ERR_INBOX_FULL', status: 429, retryable: true, message: 'Peer "%s" already has %s introductions waiting; try again later' },
  TOO_MANY_REGISTRATIONS: { code: 'PUNCH_ERR_TOO_MANY_REGISTRATIONS', status: 429, retryable: true, message: 'Address %s already has %s live registrations; try again later' },
  INTRODUCTIONS_LIMITED: { code: 'PUNCH_ERR_INTRODUCTIONS_LIMITED', status: 429, retryable: true, message: 'Too many introductions to peer "%s" %s: at most %s a minute; retry in %s s' },
  RELAY_LIMITED: { code: 'PUNCH_ERR_RELAY_LIMITED', status: 429, retryable: true, message: 'Too many relayed connections %s: at most %s at once; retry in %s s' },
  INTERNAL: { code: 'PUNCH_ERR_INTERNAL', status: 500, retryable: true, message: 'Internal server error' },
  UNAVAILABLE: { code: 'PUNCH_ERR_UNAVAILABLE', status: 503, retryable: true, message: 'The server cannot serve this request right now: %s' }
} as const satisfies Record<string, ErrorSpec>

export type ErrorName = keyof typeof ERRORS
/** Every code the server can answer with. */
export type ErrorCode = (typeof ERRORS)[ErrorName]['code']

const BY_CODE = new Map<string, ErrorSpec>(Object.values(ERRORS).map((spec) => [spec.code, spec]))

/** The table's entry for a code, or undefined for a code outside it. */
export function errorSpecOf (code: string): ErrorSpec | undefined {
  return BY_CODE.get(code)
}

export function isErrorCode (code: string): code is ErrorCode {
  return BY_CODE.has(code)
}

/** Statuses a client may retry after waiting (Retry-After when given). */
export function isRetryableStatus (status: number): boolean {
  return status === 429 || status >= 500
}
