// Abuse limits that answer 429 with Retry-After: a bounded inbox per target,
// a bounded number of live registrations per public address, and request
// rates per source address and per peer.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register } from '../helpers.js'
import { SETTINGS } from '../../server/settings.js'

describe('limits', () => {
  let app: FastifyInstance
  afterEach(async () => { await app.close() })

  it('bounds the introductions waiting in one inbox; acknowledging makes room again', async () => {
    app = await buildTestApp({ maxPendingIntroductions: 2, introductionTtlSeconds: 30 })
    const alice = await register(app, { id: 'alice' })
    const bob = await register(app, { id: 'bob' })
    const introduce = async () => await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })
    expect((await introduce()).statusCode).toBe(201)
    expect((await introduce()).statusCode).toBe(201)
    const full = await introduce()
    expect(full.statusCode).toBe(429)
    expect(full.json()).toMatchObject({ code: 'PUNCH_ERR_INBOX_FULL', statusCode: 429 })
    expect(Number(full.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(Number(full.headers['retry-after'])).toBeLessThanOrEqual(30)
    expect(await app.prisma.introduction.count()).toBe(2) // the refused one was not stored

    const inbox = (await app.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: bearer(bob) })).json()
    await app.inject({ method: 'POST', url: '/v1/peers/bob/inbox/ack', headers: bearer(bob), payload: { cursor: inbox.cursor } })
    expect((await introduce()).statusCode).toBe(201)
  })

  it('bounds the live registrations from one public address; renewals and other addresses are not affected', async () => {
    app = await buildTestApp({ maxRegistrationsPerAddress: 2 })
    const from = async (address: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      await app.inject({ method: 'POST', url: '/v1/peers', remoteAddress: address, headers, payload: { privateEndpoints: [], ...body } })
    const first = (await from('203.0.113.5', { id: 'one' })).json()
    expect((await from('203.0.113.5', { id: 'two' })).statusCode).toBe(201)
    const third = await from('203.0.113.5', { id: 'three' })
    expect(third.statusCode).toBe(429)
    expect(third.json()).toMatchObject({ code: 'PUNCH_ERR_TOO_MANY_REGISTRATIONS' })
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect((await from('203.0.113.5', { id: 'one' }, bearer(first))).statusCode).toBe(200) // a renewal
    expect((await from('198.51.100.9', { id: 'three' })).statusCode).toBe(201) // another address
    await app.inject({ method: 'DELETE', url: '/v1/peers/one', remoteAddress: '203.0.113.5', headers: bearer(first) })
    expect((await from('203.0.113.5', { id: 'four' })).statusCode).toBe(201)
    // Addresses of one IPv6 /64 are one address: the third is refused, and says which prefix.
    expect((await from('2001:db8:7:7::1', { id: 'v6-one' })).statusCode).toBe(201)
    expect((await from('2001:db8:7:7:abcd::2', { id: 'v6-two' })).statusCode).toBe(201)
    expect((await from('2001:db8:7:7:ffff::3', { id: 'v6-three' })).json()).toMatchObject({ code: 'PUNCH_ERR_TOO_MANY_REGISTRATIONS', message: expect.stringContaining('2001:db8:7:7::/64') })
    expect((await from('2001:db8:7:8::1', { id: 'v6-elsewhere' })).statusCode).toBe(201)
  })

  it('has no per-address bound when it is 0 (not a bound of none)', async () => {
    app = await buildTestApp({ maxRegistrationsPerAddress: 0 })
    // More than the default bound (256), all from one address.
    for (let n = 0; n < SETTINGS.maxRegistrationsPerAddress.default + 10; n++) {
      const registered = await app.inject({ method: 'POST', url: '/v1/peers', remoteAddress: '203.0.113.5', payload: { id: `peer-${n}`, privateEndpoints: [] } })
      expect(registered.statusCode).toBe(201)
    }
  })

  it('limits the request rate of one source address on every route but /health, counting an IPv6 /64 as one address', async () => {
    app = await buildTestApp({ rateLimitPerAddress: 5 })
    const stats = async (address: string) => await app.inject({ method: 'GET', url: '/v1/stats/punches', remoteAddress: address })
    for (let n = 0; n < 5; n++) expect((await stats('203.0.113.7')).statusCode).toBe(200)
    const limited = await stats('203.0.113.7')
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toMatchObject({ code: 'PUNCH_ERR_RATE_LIMITED', message: expect.stringContaining('address') })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect((await app.inject({ method: 'POST', url: '/v1/peers', remoteAddress: '203.0.113.7', payload: { privateEndpoints: [] } })).statusCode).toBe(429)
    // Liveness checks are never limited by address.
    for (let n = 0; n < 10; n++) expect((await app.inject({ method: 'GET', url: '/health', remoteAddress: '203.0.113.7' })).statusCode).toBe(200)
    expect((await stats('198.51.100.1')).statusCode).toBe(200)
    // Five addresses of one /64 are one address; another /64 is not.
    for (let n = 1; n <= 5; n++) expect((await stats(`2001:db8:1:2::${n}`)).statusCode).toBe(200)
    expect((await stats('2001:db8:1:2:ffff::9')).statusCode).toBe(429)
    expect((await stats('2001:db8:1:3::1')).statusCode).toBe(200)
  })

  it('limits introductions to one target, of one pair, and from one address to one target', async () => {
    app = await buildTestApp({ introductionsPerTarget: 5, introductionsPerPair: 2, introductionsPerAddressAndTarget: 3, maxPendingIntroductions: 1000 })
    const target = await register(app, { id: 'target' })
    const from = async (address: string, n: number) => await register(app, { id: `from-${address.replace(/\W/g, '')}-${n}` }, 40000 + n, address)
    const introduce = async (peer: { token: string }, address: string) => await app.inject({ method: 'POST', url: '/v1/introductions', remoteAddress: address, headers: bearer(peer), payload: { target: target.id } })
    const one = await from('203.0.113.1', 1)
    expect((await introduce(one, '203.0.113.1')).statusCode).toBe(201)
    expect((await introduce(one, '203.0.113.1')).statusCode).toBe(201)
    const pair = await introduce(one, '203.0.113.1')
    expect(pair.statusCode).toBe(429)
    expect(pair.json()).toMatchObject({ code: 'PUNCH_ERR_INTRODUCTIONS_LIMITED', message: expect.stringContaining('from peer "from-20301131-1"') })
    expect(Number(pair.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    // Another id from the same address gets one more (3 a minute per address and target), then no more.
    const two = await from('203.0.113.1', 2)
    expect((await introduce(two, '203.0.113.1')).statusCode).toBe(201)
    expect((await introduce(two, '203.0.113.1')).json()).toMatchObject({ code: 'PUNCH_ERR_INTRODUCTIONS_LIMITED', message: expect.stringContaining('from address 203.0.113.1') })
    // Other addresses fill the target's own allowance (5 a minute, from everyone), then nobody gets through.
    expect((await introduce(await from('198.51.100.1', 3), '198.51.100.1')).statusCode).toBe(201)
    expect((await introduce(await from('198.51.100.2', 4), '198.51.100.2')).statusCode).toBe(201)
    expect((await introduce(await from('198.51.100.3', 5), '198.51.100.3')).json()).toMatchObject({ code: 'PUNCH_ERR_INTRODUCTIONS_LIMITED', message: expect.stringContaining('from all peers') })
    expect(await app.prisma.introduction.count()).toBe(5)
  })

  it('limits the request rate of one peer, whatever address it comes from', async () => {
    app = await buildTestApp({ rateLimitPerPeer: 3 })
    const alice = await register(app, { id: 'alice' })
    const bob = await register(app, { id: 'bob' })
    const read = async (peer: typeof alice, address: string) => await app.inject({ method: 'GET', url: `/v1/peers/${peer.id}`, remoteAddress: address, headers: bearer(peer) })
    for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) expect((await read(alice, address)).statusCode).toBe(200)
    const limited = await read(alice, '203.0.113.4')
    expect(limited.statusCode).toBe(429)
    expect(limited.json()).toMatchObject({ code: 'PUNCH_ERR_RATE_LIMITED', message: expect.stringContaining('peer') })
    expect((await read(bob, '203.0.113.1')).statusCode).toBe(200)
  })
})
