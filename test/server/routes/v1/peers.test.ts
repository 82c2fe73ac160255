import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register } from '../../../helpers.js'

describe('/v1/peers', () => {
  let app: FastifyInstance
  let clock: Date
  beforeEach(async () => {
    clock = new Date('2026-01-01T00:00:00Z')
    app = await buildTestApp({ now: () => clock })
  })
  afterEach(async () => { await app.close() })

  it('registers with a chosen id and records the observed public endpoint next to the reported private ones', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/peers',
      remoteAddress: '203.0.113.7',
      headers: { 'x-test-remote-port': '51000' },
      payload: { id: 'alice', privateEndpoints: [{ address: '10.0.0.5', port: 4000 }, { address: 'fd00::5', port: 4000 }], ttlSeconds: 60 }
    })
    expect(response.statusCode).toBe(201)
    const body = response.json()
    expect(body).toMatchObject({
      id: 'alice',
      publicEndpoint: { address: '203.0.113.7', port: 51000 },
      privateEndpoints: [{ address: '10.0.0.5', port: 4000 }, { address: 'fd00::5', port: 4000 }],
      ttlSeconds: 60,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T00:01:00.000Z'
    })
    expect(body.token).toMatch(/^pl_[A-Za-z0-9_-]{43}$/)
  })

  it('generates an id when none is given, with the default TTL', async () => {
    const body = (await app.inject({ method: 'POST', url: '/v1/peers', payload: { privateEndpoints: [] } })).json()
    expect(body.id).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(body.ttlSeconds).toBe(90)
    const other = (await app.inject({ method: 'POST', url: '/v1/peers', payload: { privateEndpoints: [] } })).json()
    expect(other.id).not.toBe(body.id)
  })

  it('normalises an IPv4-mapped source address to plain IPv4', async () => {
    const body = (await app.inject({ method: 'POST', url: '/v1/peers', remoteAddress: '::ffff:198.51.100.9', payload: { privateEndpoints: [] } })).json()
    expect(body.publicEndpoint.address).toBe('198.51.100.9')
  })

  it('does not let anyone take over a live id: 409 without its token, 403 with another peer\'s, 401 with an unknown one, 200 and the same token with it', async () => {
    const alice = await register(app, { id: 'alice' })
    const stranger = await register(app, { id: 'mallory' })
    const payload = { id: 'alice', privateEndpoints: [{ address: '10.9.9.9', port: 1 }] }

    const noToken = await app.inject({ method: 'POST', url: '/v1/peers', payload })
    expect(noToken.statusCode).toBe(409)
    expect(noToken.json()).toMatchObject({ code: 'PUNCH_ERR_PEER_ID_TAKEN' })

    const othersToken = await app.inject({ method: 'POST', url: '/v1/peers', payload, headers: bearer(stranger) })
    expect(othersToken.statusCode).toBe(403)
    expect(othersToken.json()).toMatchObject({ code: 'PUNCH_ERR_FORBIDDEN_PEER', message: 'The token belongs to peer "mallory", not to peer "alice"' })

    const unknownToken = await app.inject({ method: 'POST', url: '/v1/peers', payload, headers: bearer({ token: `pl_${'x'.repeat(43)}` }) })
    expect(unknownToken.statusCode).toBe(401)
    expect(unknownToken.json()).toMatchObject({ code: 'PUNCH_ERR_TOKEN_INVALID' })

    const renewed = await app.inject({ method: 'POST', url: '/v1/peers', payload, headers: bearer(alice) })
    expect(renewed.statusCode).toBe(200)
    expect(renewed.json()).toMatchObject({ id: 'alice', token: alice.token, privateEndpoints: [{ address: '10.9.9.9', port: 1 }] })

    const read = await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(alice) })
    expect(read.json().privateEndpoints).toEqual([{ address: '10.9.9.9', port: 1 }])
  })

  it('lets an expired id be taken by a new registration, which gets a new token', async () => {
    const old = await register(app, { id: 'alice', ttlSeconds: 15 })
    clock = new Date(clock.getTime() + 15_000)
    const taken = await app.inject({ method: 'POST', url: '/v1/peers', payload: { id: 'alice', privateEndpoints: [] } })
    expect(taken.statusCode).toBe(201)
    expect(taken.json().token).not.toBe(old.token)
    const oldToken = await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(old) })
    expect(oldToken.statusCode).toBe(401)
  })

  it('refreshes liveness and follows the public endpoint on every authenticated request', async () => {
    const alice = await register(app, { id: 'alice', ttlSeconds: 30 }, 40000)
    clock = new Date(clock.getTime() + 20_000)
    const refreshed = await app.inject({ method: 'POST', url: '/v1/peers/alice/refresh', headers: { ...bearer(alice), 'x-test-remote-port': '40001' } })
    expect(refreshed.statusCode).toBe(200)
    expect(refreshed.json()).toMatchObject({ publicEndpoint: { address: '127.0.0.1', port: 40001 }, expiresAt: '2026-01-01T00:00:50.000Z' })

    // 45 s after registering, 25 s after the refresh: still live.
    clock = new Date(clock.getTime() + 25_000)
    const read = await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: { ...bearer(alice), 'x-test-remote-port': '40002' } })
    expect(read.statusCode).toBe(200)
    expect(read.json().publicEndpoint.port).toBe(40002)

    // Past the TTL without a request: expired, the token no longer works.
    clock = new Date(clock.getTime() + 30_000)
    const expired = await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(alice) })
    expect(expired.statusCode).toBe(401)
    expect(expired.json().code).toBe('PUNCH_ERR_TOKEN_INVALID')
    expect(expired.headers['www-authenticate']).toBe('Bearer realm="punchline"')
  })

  it('updates private endpoints and TTL', async () => {
    const alice = await register(app, { id: 'alice' })
    const response = await app.inject({
      method: 'PATCH',
      url: '/v1/peers/alice',
      headers: bearer(alice),
      payload: { privateEndpoints: [{ address: '172.16.0.3', port: 5555 }], ttlSeconds: 300 }
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ privateEndpoints: [{ address: '172.16.0.3', port: 5555 }], ttlSeconds: 300, expiresAt: '2026-01-01T00:05:00.000Z' })
  })

  it('refuses to act on another peer: 403', async () => {
    const alice = await register(app, { id: 'alice' })
    await register(app, { id: 'bob' })
    for (const [method, url] of [['GET', '/v1/peers/bob'], ['DELETE', '/v1/peers/bob'], ['GET', '/v1/peers/bob/inbox?wait=0'], ['POST', '/v1/peers/bob/refresh']] as const) {
      const response = await app.inject({ method, url, headers: bearer(alice) })
      expect(response.statusCode, `${method} ${url}`).toBe(403)
      expect(response.json()).toMatchObject({ code: 'PUNCH_ERR_FORBIDDEN_PEER' })
    }
  })

  it('deregisters: the token stops working and the id is free', async () => {
    const alice = await register(app, { id: 'alice' })
    const response = await app.inject({ method: 'DELETE', url: '/v1/peers/alice', headers: bearer(alice) })
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expect((await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(alice) })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/v1/peers', payload: { id: 'alice', privateEndpoints: [] } })).statusCode).toBe(201)
  })

  it('sweeps expired registrations and their introductions from the database, once those introductions have expired too', async () => {
    const alice = await register(app, { id: 'alice', ttlSeconds: 15 })
    await register(app, { id: 'bob', ttlSeconds: 60 })
    await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })
    expect(await app.prisma.introduction.count()).toBe(1)
    // alice has expired, her introduction (30 s) has not: bob may still report on it.
    clock = new Date(clock.getTime() + 16_000)
    await app.sweepExpired()
    expect(await app.prisma.registration.count()).toBe(2)
    expect(await app.prisma.introduction.count()).toBe(1)
    clock = new Date(clock.getTime() + 15_000)
    await app.sweepExpired()
    expect(await app.prisma.registration.findMany({ select: { peerId: true } })).toEqual([{ peerId: 'bob' }])
    expect(await app.prisma.introduction.count()).toBe(0)
  })

  it('stores only a hash of the token', async () => {
    const alice = await register(app, { id: 'alice' })
    const row = await app.prisma.registration.findUniqueOrThrow({ where: { peerId: 'alice' } })
    expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(row)).not.toContain(alice.token)
  })
})
