// The OpenAPI document as a contract a third party can trust: requests are
// generated from the document itself (valid ones from each operation's
// schemas, and hostile ones: wrong types, junk bodies, odd content types,
// missing or foreign credentials), and every answer must carry a status the
// operation documents, with a body that matches that status's schema.
import { readFileSync } from 'node:fs'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCUMENT_PATH } from '../../openapi/document.js'
import { LIMITS_LIFTED } from '../../lab/limits-lifted.js'
import { bearer, buildTestApp, register, type RegisteredPeer } from '../helpers.js'

type Schema = Record<string, any>
interface Operation { method: string, route: string, operation: Schema }

const document = JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8')) as { paths: Record<string, Record<string, Schema>> }
const operations: Operation[] = Object.entries(document.paths).flatMap(([route, item]) =>
  ['get', 'post', 'put', 'patch', 'delete'].filter((method) => item[method] !== undefined).map((method) => ({ method, route, operation: item[method]! })))

/** Values that satisfy a JSON Schema (the subset the document uses). */
function valid (schema: Schema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum as unknown[])
  if (schema.oneOf !== undefined || schema.anyOf !== undefined) return fc.oneof(...(schema.oneOf ?? schema.anyOf as Schema[]).map(valid))
  switch (schema.type) {
    case 'string':
      if (schema.format === 'uuid') return fc.uuid()
      if (schema.format === 'ipv4') return fc.ipV4()
      if (schema.format === 'ipv6') return fc.ipV6()
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern as string))
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) })
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER) })
    case 'number':
      return fc.double({ min: schema.minimum ?? -1000, max: schema.maximum ?? 1000, noNaN: true })
    case 'boolean':
      return fc.boolean()
    case 'array':
      return fc.array(valid(schema.items as Schema), { maxLength: Math.min(schema.maxItems ?? 4, 4) })
    case 'object': {
      const properties = Object.fromEntries(Object.entries((schema.properties ?? {}) as Record<string, Schema>).map(([name, property]) => [name, valid(property)]))
      return fc.record(properties, { requiredKeys: (schema.required ?? []) as string[] })
    }
    default:
      return fc.jsonValue()
  }
}

/** A value for a schema: mostly a valid one, sometimes anything at all. */
const anyFor = (schema: Schema): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: valid(schema) }, { weight: 1, arbitrary: fc.jsonValue() })

/** A held long-poll would wait its whole `wait`: polls here wait 0 s, or ask for a wrong one. */
const QUERY_OVERRIDES: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
  '/v1/peers/{peerId}/inbox': { wait: fc.constantFrom(0, 0, 0, -1, 61, 'soon', 1.5) }
}

interface GeneratedRequest {
  url: string
  payload?: string
  headers: Record<string, string>
}

function requestFor ({ route, operation }: Operation, peer: RegisteredPeer): fc.Arbitrary<GeneratedRequest> {
  const parameters = (operation.parameters ?? []) as Array<{ in: string, name: string, schema: Schema, required?: boolean }>
  const path = parameters.filter((parameter) => parameter.in === 'path')
  const query = parameters.filter((parameter) => parameter.in === 'query')
  const body = operation.requestBody?.content?.['application/json']?.schema as Schema | undefined
  const credentials = operation.security === undefined || operation.security.length === 0
    ? fc.constant({})
    : fc.constantFrom<Record<string, string>>(bearer(peer), {}, { authorization: 'Bearer pl_not-a-token' }, { authorization: 'Basic x' })
  return fc.record({
    path: fc.record(Object.fromEntries(path.map((parameter) => [parameter.name, fc.oneof(
      { weight: 3, arbitrary: parameter.name === 'peerId' ? fc.constant(peer.id) : valid(parameter.schema) },
      // "." and ".." never reach a server as a segment: URL normalization removes them (and %2E) first.
      { weight: 1, arbitrary: fc.string({ maxLength: 120 }).filter((value) => value !== '.' && value !== '..') }
    )]))),
    query: fc.record(Object.fromEntries(query.map((parameter) => [parameter.name, QUERY_OVERRIDES[route]?.[parameter.name] ?? anyFor(parameter.schema)])), { requiredKeys: QUERY_OVERRIDES[route] === undefined ? [] : Object.keys(QUERY_OVERRIDES[route]) }),
    body: body === undefined ? fc.constant(undefined) : fc.oneof({ weight: 4, arbitrary: anyFor(body) }, { weight: 1, arbitrary: fc.constant('{"unclosed": ') }),
    contentType: fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain'),
    credentials
  }).map(({ path: values, query: queryValues, body: bodyValue, contentType, credentials: headers }) => {
    const url = route.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(values[name])))
    const search = new URLSearchParams(Object.entries(queryValues).map(([name, value]): [string, string] => [name, typeof value === 'string' ? value : JSON.stringify(value)])).toString()
    return {
      url: search === '' ? url : `${url}?${search}`,
      headers: { ...headers, ...(bodyValue !== undefined ? { 'content-type': contentType } : {}) },
      ...(bodyValue !== undefined ? { payload: typeof bodyValue === 'string' && bodyValue.startsWith('{"unclosed') ? bodyValue : JSON.stringify(bodyValue) } : {})
    }
  })
}

describe('the OpenAPI document, as a contract', () => {
  let app: FastifyInstance
  const ajv = new Ajv2020({ strict: false, discriminator: true })
  addFormats.default(ajv)
  const checks = new Map<string, ValidateFunction>()
  const checkFor = (key: string, schema: Schema): ValidateFunction => {
    let check = checks.get(key)
    if (check === undefined) {
      check = ajv.compile(schema)
      checks.set(key, check)
    }
    return check
  }

  beforeAll(async () => {
    app = await buildTestApp(LIMITS_LIFTED)
    await register(app, { id: 'target' }, 40001)
  })
  afterAll(async () => { await app.close() })

  it('lists every operation it checks', () => {
    expect(operations.length).toBeGreaterThanOrEqual(12)
  })

  for (const entry of operations) {
    const { method, route, operation } = entry
    it(`${method.toUpperCase()} ${route}: every answer has a documented status and matches its schema`, async () => {
      // A peer of its own: another operation's requests may have deregistered the last one.
      const peer = await register(app, { id: `caller-${method}-${route.replace(/\W/g, '')}` }, 40002)
      const seen = new Set<number>()
      await fc.assert(fc.asyncProperty(requestFor(entry, peer), async (request) => {
        const response = await app.inject({ method: method.toUpperCase() as 'GET', ...request })
        seen.add(response.statusCode)
        const documented = operation.responses?.[String(response.statusCode)]
        if (documented === undefined) throw new Error(`${method.toUpperCase()} ${request.url} answered ${response.statusCode}, which is not documented: ${response.body.slice(0, 300)}`)
        const schema = documented.content?.['application/json']?.schema as Schema | undefined
        if (schema === undefined) return response.body === ''
        const check = checkFor(`${method} ${route} ${response.statusCode}`, schema)
        if (!check(response.json())) throw new Error(`${method.toUpperCase()} ${request.url} answered ${response.statusCode} with a body outside its schema: ${ajv.errorsText(check.errors)}; ${response.body.slice(0, 300)}`)
        return true
      }), { numRuns: 120 })
      // Where there is input to get wrong, the generator reached a refusal as well as a success.
      // (An API key is only asked for on servers configured with keys; this one has none.)
      const takesToken = (operation.security ?? []).some((requirement: Record<string, unknown>) => 'bearerAuth' in requirement)
      const takesInput = (operation.parameters ?? []).length > 0 || operation.requestBody !== undefined || takesToken
      if (takesInput) expect(seen.size).toBeGreaterThan(1)
    })
  }
})
