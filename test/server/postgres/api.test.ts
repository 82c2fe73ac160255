// The API's main flows on PostgreSQL (a throwaway cluster, a database per
// test): registering and renewing, introducing with a held poll woken over
// real HTTP, acknowledging, the inbox bound, reports, deregistering, sweeping,
// and the liveness written behind.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, listenOnLoopback, register, registerOverHttp, waitFor } from '../../helpers.js'
import { buildPostgresApp, startTestPostgres } from '../../postgres.js'

const postgres = await startTestPostgres()

describe.skipIf(postgres.skipReason !== undefined)('the API on PostgreSQL', () => {
  let app: FastifyInstance
  afterEach(async () => { await app.close() })

  it('migrates a new database at start, and starts again on it with nothing to apply', async () => {
    const url = await postgres.database()
    app = await buildPostgresApp(postgres, { databasePath: url })
    expect(app.database.dialect).toBe('postgresql')
    const rows = await app.prisma.$queryRawUnsafe<Array<{ migration_name: string, finished_at: Date | null }>>('SELECT migration_name, finished_at FROM "_prisma_migrations"')
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.every((row) => row.finished_at !== null)).toBe(true)
    await app.close()
    app = await buildPostgresApp(postgres, { databasePath: url })
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ status: 'ok', database: 'ok' })
  })

  it('registers, refuses a taken id, renews with the token, updates and deregisters', async () => {
    app = await buildPostgresApp(postgres)
    const alice = await register(app, { id: 'alice', ttlSeconds: 60 }, 41000)
    expect(alice.token).toMatch(/^pl_/)
    expect((await app.inject({ method: 'POST', url: '/v1/peers', payload: { id: 'alice', privateEndpoints: [] } })).statusCode).toBe(409)
    const renewed = await app.inject({ method: 'POST', url: '/v1/peers', headers: bearer(alice), payload: { id: 'alice', privateEndpoints: [{ address: '10.0.0.9', port: 9 }] } })
    expect(renewed.statusCode).toBe(200)
    const patched = await app.inject({ method: 'PATCH', url: '/v1/peers/alice', headers: bearer(alice), payload: { ttlSeconds: 300 } })
    expect(patched.json()).toMatchObject({ ttlSeconds: 300, privateEndpoints: [{ address: '10.0.0.9', port: 9 }] })
    expect((await app.inject({ method: 'DELETE', url: '/v1/peers/alice', headers: bearer(alice) })).statusCode).toBe(204)
    expect((await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(alice) })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/v1/peers', payload: { id: 'alice', privateEndpoints: [] } })).statusCode).toBe(201)
  })

  it('wakes a held poll with an introduction, and delivers until acknowledged', async () => {
    app = await buildPostgresApp(postgres)
    const url = await listenOnLoopback(app)
    const alice = await registerOverHttp(url, { id: 'alice', privateEndpoints: [{ address: '192.168.7.7', port: 7000 }] })
    const bob = await registerOverHttp(url, { id: 'bob' })
    const held = fetch(`${url}/v1/peers/bob/inbox?wait=20`, { headers: bearer(bob) })
    await waitFor(() => app.inboxWaiters.size === 1)
    const started = performance.now()
    const made = await (await fetch(`${url}/v1/introductions`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: '{"target":"bob"}' })).json() as { id: string, secret: string }
    const inbox = await (await held).json() as { introductions: Array<{ id: string, secret: string, peer: { id: string } }>, cursor: number }
    expect(performance.now() - started).toBeLessThan(2000)
    expect(inbox.introductions).toMatchObject([{ id: made.id, secret: made.secret, peer: { id: 'alice' } }])
    // Not acknowledged yet: delivered again; acknowledged: gone.
    const again = await (await fetch(`${url}/v1/peers/bob/inbox?wait=0`, { headers: bearer(bob) })).json() as { introductions: unknown[] }
    expect(again.introductions).toHaveLength(1)
    const after = await (await fetch(`${url}/v1/peers/bob/inbox?wait=0&after=${inbox.cursor}`, { headers: bearer(bob) })).json() as { introductions: unknown[], cursor: number }
    expect(after).toEqual({ introductions: [], cursor: inbox.cursor })
    // A cursor from the future is clamped.
    const ack = await fetch(`${url}/v1/peers/bob/inbox/ack`, { method: 'POST', headers: { ...bearer(bob), 'content-type': 'application/json' }, body: JSON.stringify({ cursor: inbox.cursor + 1000 }) })
    expect(await ack.json()).toEqual({ cursor: inbox.cursor })
  })

  it('bounds an inbox, refuses unknown targets, and takes one report per peer', async () => {
    app = await buildPostgresApp(postgres, { maxPendingIntroductions: 2 })
    const alice = await register(app, { id: 'alice' })
    const bob = await register(app, { id: 'bob' })
    const introduce = async (target = 'bob') => await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target } })
    const [first, second, third] = await Promise.all([introduce(), introduce(), introduce()]) // one batch
    expect([first.statusCode, second.statusCode, third.statusCode].sort()).toEqual([201, 201, 429])
    expect((await introduce('nobody')).statusCode).toBe(404)
    const id = first.statusCode === 201 ? first.json().id : second.json().id
    const report = { outcome: 'connected', via: 'connect', path: 'public', elapsedMs: 120, dials: 2 }
    const reports = await Promise.all([bob, bob, alice].map(async (peer) => await app.inject({ method: 'POST', url: `/v1/introductions/${id}/outcome`, headers: bearer(peer), payload: report })))
    expect(reports.map((response) => response.statusCode).sort()).toEqual([201, 201, 409])
    expect((await app.inject({ method: 'GET', url: '/v1/stats/punches' })).json()).toMatchObject({ reports: 2, connected: 2 })
  })

  it('writes liveness and moved endpoints behind, extending the registration in the database', async () => {
    let clock = new Date('2026-01-01T00:00:00Z')
    app = await buildPostgresApp(postgres, { now: () => clock })
    const alice = await register(app, { id: 'alice', ttlSeconds: 60 }, 41000)
    clock = new Date(clock.getTime() + 30_000)
    await app.inject({ method: 'POST', url: '/v1/peers/alice/refresh', headers: { ...bearer(alice), 'x-test-remote-port': '41001' } })
    const before = await app.prisma.registration.findUniqueOrThrow({ where: { peerId: 'alice' } })
    expect(before.expiresAt.toISOString()).toBe('2026-01-01T00:01:00.000Z') // in memory only, so far
    await waitFor(async () => (await app.prisma.registration.findUniqueOrThrow({ where: { peerId: 'alice' } })).publicPort === 41001, 2000, 'the moved endpoint to be written')
    const after = await app.prisma.registration.findUniqueOrThrow({ where: { peerId: 'alice' } })
    expect(after.expiresAt.toISOString()).toBe('2026-01-01T00:01:30.000Z')
  })

  it('sweeps expired registrations and introductions', async () => {
    let clock = new Date('2026-01-01T00:00:00Z')
    app = await buildPostgresApp(postgres, { now: () => clock, introductionTtlSeconds: 10 })
    const alice = await register(app, { id: 'alice', ttlSeconds: 15 })
    await register(app, { id: 'bob', ttlSeconds: 15 })
    await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })
    clock = new Date(clock.getTime() + 20_000)
    await app.sweepExpired()
    expect(await app.prisma.registration.count()).toBe(0)
    expect(await app.prisma.introduction.count()).toBe(0)
  })
})
