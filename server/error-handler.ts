// Turns every error into the one error body: Fastify's own parsing and
// validation errors are mapped onto codes from the error table, so clients
// never see a code outside it.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { atField, errors, type ErrorBody } from './errors.js'
import { describeValidationError } from './validation.js'
import { LIMIT_STATUSES } from './plugins/metrics.js'

/** Fastify's default limit on a path parameter's length. */
const MAX_PARAM_LENGTH = 100

function toPunchError (error: FastifyError & { field?: string }, bodyLimit: number): FastifyError & { field?: string } {
  if (error.code?.startsWith('PUNCH_ERR_')) return error
  if (error.validation !== undefined && error.validation.length > 0) {
    const { field, reason } = describeValidationError(error.validationContext ?? 'request', error.validation[0] as Parameters<typeof describeValidationError>[1])
    return atField(new errors.VALIDATION(`${field} ${reason}`), field)
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new errors.BODY_TOO_LARGE(bodyLimit)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return atField(new errors.UNSUPPORTED_MEDIA_TYPE(), 'headers/content-type')
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return atField(new errors.INVALID_JSON(), 'body')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY': return atField(new errors.EMPTY_BODY(), 'body')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return atField(new errors.VALIDATION('headers/content-length does not match the body'), 'headers/content-length')
    case 'FST_ERR_MAX_PARAM_LENGTH': return atField(new errors.URI_TOO_LONG(MAX_PARAM_LENGTH), 'url')
    case 'FST_ERR_BAD_URL': return atField(new errors.VALIDATION(`url ${error.message}`), 'url')
  }
  // secure-json-parse refuses __proto__ and constructor.prototype keys with a plain 400.
  if (error.statusCode === 400 && error instanceof SyntaxError) return atField(new errors.INVALID_JSON(), 'body')
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return Object.assign(new errors.BAD_REQUEST(error.message), { statusCode: error.statusCode })
  }
  return new errors.INTERNAL()
}

/** The code from the error table an error is answered with. */
export function punchCodeOf (error: FastifyError): string {
  return toPunchError(error, 0).code
}

export function errorHandler (bodyLimit: number) {
  return async function handleError (this: unknown, error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<ErrorBody> {
    const punch = toPunchError(error, bodyLimit)
    const statusCode = punch.statusCode ?? 500
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: punch.code, statusCode }, punch.message)
    if (statusCode === 401) void reply.header('www-authenticate', 'Bearer realm="punchline"')
    const { retryAfterSeconds } = punch as { retryAfterSeconds?: number }
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds))
    if (LIMIT_STATUSES.has(statusCode)) request.server.punchMetrics?.limitRejections.inc({ code: punch.code })
    void reply.code(statusCode)
    return {
      statusCode,
      code: punch.code,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message: punch.message,
      ...(punch.field !== undefined ? { field: punch.field } : {})
    }
  }
}
