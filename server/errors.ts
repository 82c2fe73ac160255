// The server's error classes, one per entry of the protocol's error table
// (@fastify/error constructors: `new errors.PEER_NOT_FOUND(id)`), so that
// every error a client can see has a code, status and message from that one
// table; plus helpers that attach a Retry-After or the offending field.
import createError, { type FastifyErrorConstructor } from '@fastify/error'
import { ERRORS, type ErrorName } from '@punchline/protocol'

type ErrorClasses = { [Name in ErrorName]: FastifyErrorConstructor<{ code: (typeof ERRORS)[Name]['code'], statusCode: (typeof ERRORS)[Name]['status'] }, Array<string | number>> }

export const errors = Object.fromEntries(
  Object.entries(ERRORS).map(([name, spec]) => [name, createError(spec.code, spec.message, spec.status)])
) as ErrorClasses

export type { ErrorCode as PunchErrorCode } from '@punchline/protocol'

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
