// Every kind of bad input gets a 4xx with a stable code and the field at fault;
// none produces a 5xx, and none changes what is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register, type RegisteredPeer } from '../helpers.js'

interface Case {
  name: string
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  body?: unknown
  rawBody?: string
  headers?: Record<string, string> | ((peers: Peers) => Record<string, string>)
  auth?: boolean
  status: number
  code: string
  field?: string
}
interface Peers { alice: RegisteredPeer, bob: RegisteredPeer }

const endpoint = { address: '192.168.1.10', port: 4000 }
const register_ = (body: unknown): Pick<Case, 'method' | 'url' | 'body'> => ({ method: 'POST', url: '/v1/peers', body })

const cases: Case[] = [
  // Register: types, ranges, addresses, ids, unknown fields, sizes.
  { name: 'body is not an object', ...register_([1, 2]), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body' },
  { name: 'privateEndpoints missing', ...register_({ id: 'carol' }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints' },
  { name: 'privateEndpoints not an array', ...register_({ privateEndpoints: 'x' }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints' },
  { name: 'port 0', ...register_({ privateEndpoints: [{ address: '10.0.0.1', port: 0 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/port' },
  { name: 'port 65536', ...register_({ privateEndpoints: [endpoint, { address: '10.0.0.1', port: 65536 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/1/port' },
  { name: 'port as a string', ...register_({ privateEndpoints: [{ address: '10.0.0.1', port: '80' }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/port' },
  { name: 'port fractional', ...register_({ privateEndpoints: [{ address: '10.0.0.1', port: 80.5 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/port' },
  { name: 'address is a hostname', ...register_({ privateEndpoints: [{ address: 'example.com', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'address out of range', ...register_({ privateEndpoints: [{ address: '256.1.1.1', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'address unspecified', ...register_({ privateEndpoints: [{ address: '0.0.0.0', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'address multicast', ...register_({ privateEndpoints: [{ address: '239.1.1.1', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'IPv6 address with zone id', ...register_({ privateEndpoints: [{ address: 'fe80::1%eth0', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  ...['127.0.0.1', '169.254.169.254', '8.8.8.8', '100.64.0.1', 'fe80::1', '2001:db8::1', '::ffff:127.0.0.1'].map((address) => (
    { name: `a private endpoint that is no private address: ${address}`, ...register_({ privateEndpoints: [{ address: '10.0.0.1', port: 1 }, { address, port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/1/address' }
  )),
  { name: 'address with port inside', ...register_({ privateEndpoints: [{ address: '10.0.0.1:80', port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'address not a string', ...register_({ privateEndpoints: [{ address: 167772161, port: 80 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/address' },
  { name: 'unknown field in an endpoint', ...register_({ privateEndpoints: [{ ...endpoint, family: 4 }] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints/0/family' },
  { name: 'unknown top-level field', ...register_({ privateEndpoints: [], admin: true }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/admin' },
  { name: 'too many private endpoints', ...register_({ privateEndpoints: Array.from({ length: 9 }, () => endpoint) }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/privateEndpoints' },
  { name: 'id with a space', ...register_({ id: 'bad id', privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'id with a slash', ...register_({ id: 'a/b', privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'id empty', ...register_({ id: '', privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  // URL dot-segments: /v1/peers/./inbox would reach another route through any client that parses URLs.
  { name: 'id "."', ...register_({ id: '.', privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'id ".."', ...register_({ id: '..', privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'id of 65 characters', ...register_({ id: 'a'.repeat(65), privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'id not a string', ...register_({ id: 42, privateEndpoints: [] }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  { name: 'ttl below the minimum', ...register_({ privateEndpoints: [], ttlSeconds: 1 }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/ttlSeconds' },
  { name: 'ttl above the maximum', ...register_({ privateEndpoints: [], ttlSeconds: 86400 }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/ttlSeconds' },
  { name: 'ttl as a string', ...register_({ privateEndpoints: [], ttlSeconds: '60' }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/ttlSeconds' },
  { name: 'ttl null', ...register_({ privateEndpoints: [], ttlSeconds: null }), status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/ttlSeconds' },
  { name: 'malformed JSON', method: 'POST', url: '/v1/peers', rawBody: '{"privateEndpoints": [', status: 400, code: 'PUNCH_ERR_INVALID_JSON', field: 'body' },
  { name: 'prototype pollution key', method: 'POST', url: '/v1/peers', rawBody: '{"privateEndpoints": [], "__proto__": {"x": 1}}', status: 400, code: 'PUNCH_ERR_INVALID_JSON', field: 'body' },
  { name: 'empty JSON body', method: 'POST', url: '/v1/peers', rawBody: '', status: 400, code: 'PUNCH_ERR_EMPTY_BODY', field: 'body' },
  { name: 'body over 16 KiB', ...register_({ privateEndpoints: [], id: 'x', padding: 'y'.repeat(20_000) }), status: 413, code: 'PUNCH_ERR_BODY_TOO_LARGE' },
  { name: 'text/plain body', method: 'POST', url: '/v1/peers', rawBody: 'hello', headers: { 'content-type': 'text/plain' }, status: 415, code: 'PUNCH_ERR_UNSUPPORTED_MEDIA_TYPE', field: 'headers/content-type' },
  // Tokens.
  { name: 'no token', url: '/v1/peers/alice', status: 401, code: 'PUNCH_ERR_TOKEN_MISSING' },
  { name: 'not a Bearer header', url: '/v1/peers/alice', headers: { authorization: 'Basic YWxpY2U6eA==' }, status: 401, code: 'PUNCH_ERR_TOKEN_MISSING' },
  { name: 'Bearer without a token', url: '/v1/peers/alice', headers: { authorization: 'Bearer' }, status: 401, code: 'PUNCH_ERR_TOKEN_MISSING' },
  { name: 'malformed token', url: '/v1/peers/alice', headers: { authorization: 'Bearer hunter2' }, status: 401, code: 'PUNCH_ERR_TOKEN_INVALID' },
  { name: 'well-formed unknown token', url: '/v1/peers/alice', headers: { authorization: `Bearer pl_${'A'.repeat(43)}` }, status: 401, code: 'PUNCH_ERR_TOKEN_INVALID' },
  { name: 'token of another peer', url: '/v1/peers/alice', headers: ({ bob }) => bearer(bob), status: 403, code: 'PUNCH_ERR_FORBIDDEN_PEER' },
  { name: 'bad peer id in the path', url: '/v1/peers/a%20b', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'params/peerId' },
  // Update.
  { name: 'update with nothing to change', method: 'PATCH', url: '/v1/peers/alice', auth: true, body: {}, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body' },
  { name: 'update with an unknown field', method: 'PATCH', url: '/v1/peers/alice', auth: true, body: { id: 'eve' }, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/id' },
  // Introductions.
  { name: 'introduce without a target', method: 'POST', url: '/v1/introductions', auth: true, body: {}, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/target' },
  { name: 'introduce a target with a bad id', method: 'POST', url: '/v1/introductions', auth: true, body: { target: '../bob' }, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/target' },
  { name: 'introduce an unknown peer', method: 'POST', url: '/v1/introductions', auth: true, body: { target: 'nobody' }, status: 404, code: 'PUNCH_ERR_PEER_NOT_FOUND' },
  { name: 'introduce oneself', method: 'POST', url: '/v1/introductions', auth: true, body: { target: 'alice' }, status: 400, code: 'PUNCH_ERR_SELF_INTRODUCTION' },
  { name: 'introduction id not a uuid', url: '/v1/introductions/123', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'params/introductionId' },
  { name: 'unknown introduction', url: '/v1/introductions/7b0c1d4e-2f3a-4b5c-8d9e-0f1a2b3c4d5e', auth: true, status: 404, code: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND' },
  // Inbox.
  { name: 'wait above the maximum', url: '/v1/peers/alice/inbox?wait=61', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/wait' },
  { name: 'wait negative', url: '/v1/peers/alice/inbox?wait=-1', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/wait' },
  { name: 'wait not a number', url: '/v1/peers/alice/inbox?wait=soon', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/wait' },
  { name: 'cursor negative', url: '/v1/peers/alice/inbox?after=-5', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/after' },
  { name: 'cursor beyond safe integers', url: '/v1/peers/alice/inbox?after=99999999999999999999', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/after' },
  { name: 'unknown query parameter', url: '/v1/peers/alice/inbox?limit=5', auth: true, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/limit' },
  { name: 'ack without a cursor', method: 'POST', url: '/v1/peers/alice/inbox/ack', auth: true, body: {}, status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'body/cursor' },
  // Routes and URLs.
  { name: 'unknown route', url: '/v1/nothing', status: 404, code: 'PUNCH_ERR_ROUTE_NOT_FOUND' },
  { name: 'path segment over 100 characters', url: `/v1/peers/${'a'.repeat(101)}`, status: 414, code: 'PUNCH_ERR_URI_TOO_LONG', field: 'url' },
  { name: 'broken percent-encoding', url: '/v1/peers/%E0%A4%A', status: 400, code: 'PUNCH_ERR_VALIDATION', field: 'url' },
  { name: 'wrong method', method: 'DELETE', url: '/v1/introductions', status: 404, code: 'PUNCH_ERR_ROUTE_NOT_FOUND' }
]

describe('bad input', () => {
  let app: FastifyInstance
  let peers: Peers
  let before: string
  const snapshot = async (): Promise<string> => JSON.stringify([
    await app.prisma.registration.findMany({ orderBy: { peerId: 'asc' }, omit: { refreshedAt: true, expiresAt: true, publicPort: true } }),
    await app.prisma.introduction.findMany({ orderBy: { seq: 'asc' } })
  ])

  beforeAll(async () => {
    app = await buildTestApp()
    peers = { alice: await register(app, { id: 'alice' }), bob: await register(app, { id: 'bob' }) }
    before = await snapshot()
  })
  afterAll(async () => { await app.close() })

  it.each(cases)('$name → $status $code', async (testCase) => {
    const headers = {
      ...(testCase.auth === true ? bearer(peers.alice) : {}),
      ...(typeof testCase.headers === 'function' ? testCase.headers(peers) : testCase.headers ?? {})
    }
    const response = await app.inject({
      method: testCase.method ?? 'GET',
      url: testCase.url,
      headers: testCase.rawBody !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
      ...(testCase.rawBody !== undefined ? { payload: testCase.rawBody } : testCase.body !== undefined ? { payload: testCase.body as object } : {})
    })
    expect(response.statusCode, response.body).toBe(testCase.status)
    const body = response.json()
    expect(body).toMatchObject({ statusCode: testCase.status, code: testCase.code })
    expect(body.message).toEqual(expect.any(String))
    if (testCase.field !== undefined) {
      expect(body.field).toBe(testCase.field)
      expect(body.message).toContain(testCase.field)
    }
  })

  it('left the stored registrations and introductions as they were', async () => {
    expect(await snapshot()).toBe(before)
  })
})
