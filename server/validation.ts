// Request validation. Bodies are JSON and must match their schema exactly: no
// type coercion, no silently dropped unknown fields. Query strings, params and
// headers are text, so they are coerced ("25" -> 25), but unknown fields are
// still refused.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

function createAjv (coerceTypes: boolean): Ajv {
  // verbose: errors carry their schema, so that a discriminator's error can name the allowed values.
  const ajv = new Ajv({ coerceTypes, removeAdditional: false, useDefaults: true, allErrors: false, strict: true, discriminator: true, verbose: true })
  addFormats.default(ajv, ['uuid', 'date-time', 'ipv4', 'ipv6'])
  return ajv
}

const bodies = createAjv(false)
const text = createAjv(true)

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodies : text).compile(schema as object) as ValidateFunction

const FORMAT_MESSAGES: Record<string, string> = {
  ipv4: 'must be an IPv4 or IPv6 address literal, without a zone id',
  ipv6: 'must be an IPv4 or IPv6 address literal, without a zone id',
  uuid: 'must be a UUID'
}

/** Where the first validation error is ("body/privateEndpoints/0/port") and why. */
export function describeValidationError (context: string, error: ErrorObject): { field: string, reason: string } {
  let path = error.instancePath
  let reason = error.message ?? 'is invalid'
  if (error.keyword === 'required') {
    path += `/${String(error.params.missingProperty)}`
    reason = 'is required'
  } else if (error.keyword === 'additionalProperties') {
    path += `/${String(error.params.additionalProperty)}`
    reason = 'is not a known field'
  } else if (error.keyword === 'format') {
    reason = FORMAT_MESSAGES[String(error.params.format)] ?? reason
  } else if (error.keyword === 'discriminator') {
    path += `/${String(error.params.tag)}`
    const allowed = ((error.parentSchema as { oneOf?: Array<{ properties?: Record<string, { const?: unknown }> }> } | undefined)?.oneOf ?? [])
      .map((branch) => JSON.stringify(branch.properties?.[String(error.params.tag)]?.const))
    reason = error.params.error === 'tag' ? 'is required' : `must be one of ${allowed.join(', ')}`
  } else if (error.keyword === 'minProperties') {
    reason = 'must name at least one field to change'
  }
  return { field: context + path, reason }
}
