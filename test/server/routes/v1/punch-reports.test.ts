// Punch outcome reports and the success statistics built from them.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register, type RegisteredPeer } from '../../../helpers.js'

describe('punch outcome reports', () => {
  let app: FastifyInstance
  let clock: Date
  afterEach(async () => { await app.close() })

  async function setup (): Promise<{ alice: RegisteredPeer, bob: RegisteredPeer, carol: RegisteredPeer }> {
    clock = new Date('2026-11-25T12:00:00Z')
    app = await buildTestApp({ now: () => clock })
    const alice = await register(app, { id: 'alice', ttlSeconds: 3600 })
    const bob = await register(app, { id: 'bob', ttlSeconds: 3600 }, 40001)
    const carol = await register(app, { id: 'carol', ttlSeconds: 3600 }, 40002)
    return { alice, bob, carol }
  }

  async function introduce (from: RegisteredPeer, target: string): Promise<string> {
    const response = await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(from), payload: { target } })
    expect(response.statusCode).toBe(201)
    return response.json().id
  }

  const report = async (peer: RegisteredPeer, introductionId: string, payload: Record<string, unknown>) =>
    await app.inject({ method: 'POST', url: `/v1/introductions/${introductionId}/outcome`, headers: bearer(peer), payload })

  const connected = { outcome: 'connected', via: 'accept', path: 'public', elapsedMs: 200, dials: 4 }

  it('records one report per peer and introduction, for its two peers only', async () => {
    const { alice, bob, carol } = await setup()
    const id = await introduce(alice, 'bob')
    const first = await report(alice, id, connected)
    expect(first.statusCode).toBe(201)
    // Neither peer probed its mapping: the report is counted under unknown+unknown.
    expect(first.json()).toEqual({ introductionId: id, peerId: 'alice', ...connected, attempts: connected.dials, mappings: 'unknown+unknown', createdAt: clock.toISOString() })
    expect((await report(bob, id, { outcome: 'failed', elapsedMs: 10_000, dials: 30, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' })).statusCode).toBe(201)

    const again = await report(alice, id, connected)
    expect(again.statusCode).toBe(409)
    expect(again.json()).toMatchObject({ code: 'PUNCH_ERR_REPORT_EXISTS' })
    expect((await report(carol, id, connected)).json()).toMatchObject({ statusCode: 403, code: 'PUNCH_ERR_NOT_A_PARTICIPANT' })
    expect((await report(alice, '00000000-0000-4000-8000-000000000000', connected)).json()).toMatchObject({ statusCode: 404, code: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND' })
    const anonymous = await app.inject({ method: 'POST', url: `/v1/introductions/${id}/outcome`, payload: connected })
    expect(anonymous.json()).toMatchObject({ statusCode: 401, code: 'PUNCH_ERR_TOKEN_MISSING' })
  })

  it('still takes the deprecated name `attempts` for dials, and answers both names', async () => {
    const { alice } = await setup()
    const id = await introduce(alice, 'bob')
    const response = await report(alice, id, { outcome: 'connected', via: 'connect', path: 'public', elapsedMs: 5, attempts: 3 })
    expect(response.statusCode).toBe(201)
    expect(response.json()).toMatchObject({ dials: 3, attempts: 3 })
  })

  it('takes the other peer\'s report after one peer deregistered (as `punchline peer` does when it exits)', async () => {
    const { alice, bob } = await setup()
    const id = await introduce(alice, 'bob')
    expect((await report(alice, id, { outcome: 'failed', elapsedMs: 3000, dials: 900, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' })).statusCode).toBe(201)
    expect((await app.inject({ method: 'DELETE', url: '/v1/peers/alice', headers: bearer(alice) })).statusCode).toBe(204)
    await app.sweepExpired()
    expect((await report(bob, id, { outcome: 'failed', elapsedMs: 3001, dials: 1200, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' })).statusCode).toBe(201)
    expect((await app.inject({ url: '/v1/stats/punches' })).json()).toMatchObject({ reports: 2, failed: 2 })
  })

  it('refuses inconsistent or malformed reports with the field at fault, storing nothing', async () => {
    const { alice } = await setup()
    const id = await introduce(alice, 'bob')
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ outcome: 'connected', path: 'public', elapsedMs: 1, dials: 1 }, 'body/via'],
      [{ outcome: 'connected', via: 'connect', elapsedMs: 1, dials: 1 }, 'body/path'],
      [{ ...connected, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' }, 'body/errorCode'],
      [{ outcome: 'failed', path: 'public', elapsedMs: 1, dials: 1 }, 'body/path'],
      [{ outcome: 'maybe', elapsedMs: 1, dials: 1 }, 'body/outcome'],
      [{ ...connected, elapsedMs: -1 }, 'body/elapsedMs'],
      [{ ...connected, dials: 1.5 }, 'body/dials'],
      [{ outcome: 'failed', elapsedMs: 1 }, 'body/dials'],
      [{ ...connected, attempts: 5 }, 'body/attempts'],
      [{ outcome: 'failed', elapsedMs: 1, dials: 1, errorCode: 'timeout' }, 'body/errorCode'],
      [{ ...connected, extra: true }, 'body/extra'],
      // A connection is relayed or direct: via and path say "relay" together or not at all.
      [{ ...connected, via: 'relay' }, 'body/path'],
      [{ ...connected, path: 'relay' }, 'body/via']
    ]
    for (const [payload, field] of cases) {
      const response = await report(alice, id, payload)
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.json(), JSON.stringify(payload)).toMatchObject({ code: 'PUNCH_ERR_VALIDATION', field })
    }
    expect((await app.inject({ url: '/v1/stats/punches' })).json()).toMatchObject({ reports: 0 })
  })

  it('aggregates success statistics over a window, and keeps reports for 7 days', async () => {
    const before = await setup()
    // Eight days ago: one failure, which the sweeper will delete.
    const old = await introduce(before.alice, 'bob')
    await report(before.alice, old, { outcome: 'failed', elapsedMs: 10_000, dials: 40, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' })
    clock = new Date(clock.getTime() + 8 * 86400_000)
    const alice = await register(app, { id: 'alice' })
    const bob = await register(app, { id: 'bob' }, 40001)
    for (const [elapsedMs, via, path] of [[100, 'connect', 'public'], [300, 'accept', 'public'], [200, 'accept', 'private']] as const) {
      const id = await introduce(alice, 'bob')
      expect((await report(bob, id, { outcome: 'connected', via, path, elapsedMs, dials: elapsedMs / 100 })).statusCode).toBe(201)
    }
    // Two connections through the relay, after long punches: counted apart, with their own times.
    for (const elapsedMs of [10_000, 12_000]) {
      const id = await introduce(alice, 'bob')
      expect((await report(alice, id, { outcome: 'connected', via: 'relay', path: 'relay', elapsedMs, dials: 900 })).statusCode).toBe(201)
    }
    const failed = await introduce(bob, 'alice')
    await report(alice, failed, { outcome: 'failed', elapsedMs: 10_000, dials: 12, errorCode: 'PUNCH_ERR_AUTHENTICATION_FAILED' })

    const day = (await app.inject({ url: '/v1/stats/punches' })).json()
    // Times are counted in histograms: exact below 32 ms, within 1/32 above.
    expect(Math.abs(day.elapsedMs.median - 200)).toBeLessThanOrEqual(200 / 32)
    expect(Math.abs(day.elapsedMs.p95 - 300)).toBeLessThanOrEqual(300 / 32)
    expect(Math.abs(day.relayedElapsedMs.median - 12_000)).toBeLessThanOrEqual(12_000 / 32)
    expect(day).toEqual({
      windowSeconds: 86400,
      since: new Date(clock.getTime() - 86400_000).toISOString(),
      reports: 6,
      connected: 5,
      direct: 3,
      relayed: 2,
      failed: 1,
      successRate: 5 / 6,
      directRate: 0.5,
      byVia: { connect: 1, accept: 2, relay: 2 },
      byPath: { public: 2, private: 1, relay: 2 },
      failures: { PUNCH_ERR_AUTHENTICATION_FAILED: 1 },
      byMappings: { 'unknown+unknown': { reports: 6, connected: 5, failed: 1 } },
      elapsedMs: { median: day.elapsedMs.median, p95: day.elapsedMs.p95 },
      relayedElapsedMs: { median: day.relayedElapsedMs.median, p95: day.relayedElapsedMs.median },
      // Of direct connections only: the relayed ones' 900 dials would make it 900.
      dialsMedian: 2,
      attemptsMedian: 2
    })
    const week = (await app.inject({ url: '/v1/stats/punches?windowSeconds=604800' })).json()
    expect(week).toMatchObject({ reports: 6 }) // the eight-day-old report is outside the longest window
    const month = await app.inject({ url: '/v1/stats/punches?windowSeconds=2592000' })
    expect(month.json()).toMatchObject({ statusCode: 400, code: 'PUNCH_ERR_VALIDATION', field: 'querystring/windowSeconds' })

    await app.sweepExpired()
    const rows = await app.prisma.punchReport.count()
    expect(rows).toBe(6)

    const metrics = (await app.inject({ url: '/metrics' })).body
    expect(metrics).toContain('punchline_punch_reports_total{outcome="connected",via="accept",path="public",mappings="unknown+unknown"} 1')
    expect(metrics).toContain('punchline_punch_reports_total{outcome="failed",via="none",path="none",mappings="unknown+unknown"} 2')
    expect(metrics).toContain('punchline_punch_reports_total{outcome="connected",via="relay",path="relay",mappings="unknown+unknown"} 2')
    expect(metrics).toContain('punchline_punch_elapsed_seconds_count{outcome="connected"} 5')
  })

  it('answers empty statistics before any report', async () => {
    await setup()
    expect((await app.inject({ url: '/v1/stats/punches?windowSeconds=60' })).json()).toMatchObject({
      windowSeconds: 60, reports: 0, connected: 0, direct: 0, relayed: 0, failed: 0, successRate: null, directRate: null, byMappings: {}, elapsedMs: { median: null, p95: null }, relayedElapsedMs: { median: null, p95: null }, dialsMedian: null, attemptsMedian: null
    })
  })
})
