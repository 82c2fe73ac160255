// The one table of punchline's API errors. Every error a client can see has a
// stable `code` it can match on; 4xx means "your request is wrong" (and says
// which field when a field is to blame), 503 means "try again".
import createError, { type FastifyErrorConstructor } from '@fastify/error'

export const errors = {
  VALIDATION: createError('PUNCH_ERR_VALIDATION', '%s', 400),
  INVALID_JSON: createError('PUNCH_ERR_INVALID_JSON', 'body is not valid JSON (or has a __proto__ or constructor.prototype key)', 400),
  EMPTY_BODY: createError('PUNCH_ERR_EMPTY_BODY', 'body is empty, but Content-Type says application/json', 400),
  UNSUPPORTED_MEDIA_TYPE: createError('PUNCH_ERR_UNSUPPORTED_MEDIA_TYPE', 'headers/content-type must be application/json', 415),
  BODY_TOO_LARGE: createError('PUNCH_ERR_BODY_TOO_LARGE', 'Request body is larger than %s bytes', 413),
  URI_TOO_LONG: createError('PUNCH_ERR_URI_TOO_LONG', 'url has a path segment over %s characters', 414),
  /** Any other client error the framework detects; keeps its own status. */
  BAD_REQUEST: createError('PUNCH_ERR_BAD_REQUEST', '%s', 400),
  SELF_INTRODUCTION: createError('PUNCH_ERR_SELF_INTRODUCTION', 'A peer cannot be introduced to itself', 400),
  TOKEN_MISSING: createError('PUNCH_ERR_TOKEN_MISSING', 'This route needs "Authorization: Bearer <token>"', 401),
  API_KEY_INVALID: createError('PUNCH_ERR_API_KEY_INVALID', 'Registering on this server needs a valid "X-API-Key" header', 401),
  TOKEN_INVALID: createError('PUNCH_ERR_TOKEN_INVALID', 'The bearer token is unknown or its registration has expired; register again', 401),
  FORBIDDEN_PEER: createError('PUNCH_ERR_FORBIDDEN_PEER', 'The token belongs to peer "%s", not to peer "%s"', 403),
  NOT_A_PARTICIPANT: createError('PUNCH_ERR_NOT_A_PARTICIPANT', 'Peer "%s" is not part of introduction "%s"', 403),
  PEER_NOT_FOUND: createError('PUNCH_ERR_PEER_NOT_FOUND', 'No live registration for peer "%s"', 404),
  INTRODUCTION_NOT_FOUND: createError('PUNCH_ERR_INTRODUCTION_NOT_FOUND', 'No live introduction "%s"', 404),
  ROUTE_NOT_FOUND: createError('PUNCH_ERR_ROUTE_NOT_FOUND', 'No route %s %s', 404),
  RATE_LIMITED: createError('PUNCH_ERR_RATE_LIMITED', 'Too many requests from this %s: at most %s a minute; retry in %s s', 429),
  INBOX_FULL: createError('PUNCH_ERR_INBOX_FULL', 'Peer "%s" already has %s introductions waiting; try again later', 429),
  TOO_MANY_REGISTRATIONS: createError('PUNCH_ERR_TOO_MANY_REGISTRATIONS', 'Address %s already has %s live registrations; try again later', 429),
  REPORT_EXISTS: createError('PUNCH_ERR_REPORT_EXISTS', 'Peer "%s" has already reported the outcome of introduction "%s"', 409),
  PEER_ID_TAKEN: createError('PUNCH_ERR_PEER_ID_TAKEN', 'Peer id "%s" is registered and live; send its bearer token to renew it, or choose another id', 409),
  UNAVAILABLE: createError('PUNCH_ERR_UNAVAILABLE', 'The server cannot serve this request right now: %s', 503),
  INTERNAL: createError('PUNCH_ERR_INTERNAL', 'Internal server error', 500)
} satisfies Record<string, FastifyErrorConstructor>

export type PunchErrorCode = InstanceType<(typeof errors)[keyof typeof errors]>['code']

/** The JSON body of every error response. */
export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
  /** Where the fault is, e.g. "body/privateEndpoints/0/port". */
  field?: string
}

/** Attaches how long a client should wait before retrying (a Retry-After header). */
export function retryAfter<E extends Error> (error: E, seconds: number): E & { retryAfterSeconds: number } {
  return Object.assign(error, { retryAfterSeconds: Math.max(1, Math.ceil(seconds)) })
}

/** Attaches the offending field to an error from the table. */
export function atField<E extends Error> (error: E, field: string): E & { field: string } {
  return Object.assign(error, { field })
}
