// Property-based fuzzing of every route: random and malformed methods, paths,
// query strings, headers and bodies. The server must answer every one with a
// non-5xx status, in the error table's format when it is an error, and its
// stored state must stay consistent.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register, type RegisteredPeer } from '../helpers.js'
import { LIMITS_LIFTED } from '../../lab/limits-lifted.js'

const RUNS = Number(process.env.PUNCHLINE_FUZZ_RUNS ?? 3000)

describe('fuzzing every route', () => {
  let app: FastifyInstance
  let alice: RegisteredPeer
  let bob: RegisteredPeer
  let introductionId: string

  beforeAll(async () => {
    // Lift the rate limits, or most cases would only meet a 429.
    app = await buildTestApp(LIMITS_LIFTED)
    alice = await register(app, { id: 'alice' })
    bob = await register(app, { id: 'bob' })
    introductionId = (await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })).json().id
  })
  afterAll(async () => { await app.close() })

  const segment = fc.oneof(
    fc.constantFrom('alice', 'bob', 'nobody', '', '..', '%00', '%2F', 'a'.repeat(300)),
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
    fc.uuid()
  )
  const path = fc.oneof(
    fc.constantFrom('/health', '/v1/peers', '/v1/introductions', '/docs/json', '/v1', '/', '//v1//peers'),
    segment.map((id) => `/v1/peers/${id}`),
    segment.map((id) => `/v1/peers/${id}/refresh`),
    segment.map((id) => `/v1/peers/${id}/inbox`),
    segment.map((id) => `/v1/peers/${id}/inbox/ack`),
    segment.map((id) => `/v1/introductions/${id}`),
    fc.constant('/v1/introductions/INTRODUCTION'),
    fc.webPath().map((text) => text === '' ? '/' : text) // an HTTP request line always has a target
  )
  const query = fc.oneof(
    fc.constant(''),
    fc.dictionary(fc.constantFrom('after', 'wait', 'limit', 'x', '__proto__'), fc.oneof(fc.integer().map(String), fc.string({ maxLength: 10 }), fc.constantFrom('0', '-1', '1e3', '99999999999999999999', 'NaN')), { maxKeys: 3 })
      .map((entries) => `?${new URLSearchParams(entries as Record<string, string>).toString()}`),
    fc.string({ maxLength: 30 }).map((text) => `?${text}`)
  )
  const body = fc.oneof(
    fc.constant(undefined),
    fc.json().map((text) => ({ raw: text })),
    fc.string({ maxLength: 200 }).map((text) => ({ raw: text })),
    fc.record({
      id: fc.oneof(fc.constantFrom('alice', 'carol', ''), fc.string({ maxLength: 70 }), fc.integer()),
      privateEndpoints: fc.array(fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 50 })), port: fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.string()) }), { maxLength: 10 }),
      ttlSeconds: fc.oneof(fc.integer({ min: -10, max: 100_000 }), fc.constant(null)),
      target: fc.constantFrom('alice', 'bob', 'nobody', ''),
      cursor: fc.oneof(fc.integer(), fc.double(), fc.string())
    }, { requiredKeys: [] }).map((value) => ({ raw: JSON.stringify(value) }))
  )
  const headers = fc.record({
    authorization: fc.oneof(fc.constantFrom('ALICE', 'BOB', 'Bearer', 'Bearer ', 'Basic x', 'bearer pl_x'), fc.string({ maxLength: 60 })),
    'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''),
    accept: fc.constantFrom('application/json', '*/*', 'text/html')
  }, { requiredKeys: [] })
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')

  it(`answers ${RUNS} random requests without a 5xx, errors always from the table`, async () => {
    await fc.assert(fc.asyncProperty(method, path, query, headers, body, async (verb, route, search, rawHeaders, payload) => {
      const requestHeaders: Record<string, string> = { ...rawHeaders as Record<string, string> }
      if (requestHeaders.authorization === 'ALICE') requestHeaders.authorization = bearer(alice).authorization!
      if (requestHeaders.authorization === 'BOB') requestHeaders.authorization = bearer(bob).authorization!
      if (requestHeaders['content-type'] === '') delete requestHeaders['content-type']
      const url = route.replace('INTRODUCTION', introductionId) + search
      // Never hold a long-poll open for long in a fuzz run.
      const safeUrl = url.includes('/inbox') && !url.includes('/ack') ? `${url}${url.includes('?') ? '&' : '?'}wait=0` : url
      const response = await app.inject({
        method: verb as 'GET',
        url: safeUrl,
        headers: requestHeaders,
        ...(payload !== undefined && verb !== 'GET' && verb !== 'HEAD' ? { payload: payload.raw } : {})
      })
      expect(response.statusCode, `${verb} ${safeUrl} -> ${response.statusCode} ${response.body}`).toBeLessThan(500)
      if (response.statusCode >= 400 && verb !== 'HEAD') {
        expect(response.json(), `${verb} ${safeUrl}`).toMatchObject({ statusCode: response.statusCode, code: expect.stringMatching(/^PUNCH_ERR_[A-Z0-9_]+$/), message: expect.any(String) })
      }
    }), { numRuns: RUNS })
  }, 120_000)

  it('leaves the database consistent', async () => {
    const integrity = await app.prisma.$queryRawUnsafe<Array<{ integrity_check: string }>>('PRAGMA integrity_check')
    expect(integrity).toEqual([{ integrity_check: 'ok' }])
    expect(await app.prisma.$queryRawUnsafe('PRAGMA foreign_key_check')).toEqual([])
    for (const row of await app.prisma.registration.findMany()) {
      expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/)
      expect(row.peerId).toMatch(/^[A-Za-z0-9._-]{1,64}$/)
      expect(JSON.parse(row.privateEndpoints)).toEqual(expect.any(Array))
    }
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
  })
})
