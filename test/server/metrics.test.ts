// Prometheus metrics at /metrics, read over real HTTP the way Prometheus
// scrapes them, after real traffic: each domain metric moves with what it counts.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenOnLoopback, register } from '../helpers.js'

/** The value of one sample of the exposition text, e.g. `punchline_polls_held` or `name{label="x"}`. */
function sample (text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

describe('GET /metrics', () => {
  let app: FastifyInstance
  let clock = new Date('2026-11-25T12:00:00Z')
  afterEach(async () => { await app.close() })

  async function scrape (base: string): Promise<string> {
    const response = await fetch(`${base}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return await response.text()
  }

  it('counts registrations, introductions created, delivered and expired, held polls, limit rejections and request latency', async () => {
    clock = new Date('2026-11-25T12:00:00Z')
    app = await buildTestApp({ now: () => clock, maxPendingIntroductions: 2, introductionTtlSeconds: 30 })
    const base = await listenOnLoopback(app)
    const alice = await register(app, { id: 'alice' })
    const bob = await register(app, { id: 'bob', ttlSeconds: 3600 }, 40001)
    await register(app, { id: 'carol', ttlSeconds: 3600 }, 40002)

    let text = await scrape(base)
    expect(sample(text, 'punchline_registrations_live')).toBe(3)
    expect(sample(text, 'punchline_polls_held')).toBe(0)
    expect(sample(text, 'punchline_introductions_created_total')).toBe(0)

    // bob holds a poll over real HTTP; alice's introduction is delivered to it.
    const poll = fetch(`${base}/v1/peers/bob/inbox?wait=10`, { headers: bearer(bob) })
    await expect.poll(async () => sample(await scrape(base), 'punchline_polls_held')).toBe(1)
    const introduce = async (from: { token: string }, target: string): Promise<number> =>
      (await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(from), payload: { target } })).statusCode
    expect(await introduce(alice, 'bob')).toBe(201)
    const delivered = await (await poll).json() as { introductions: unknown[], cursor: number }
    expect(delivered.introductions).toHaveLength(1)

    // carol never polls: two introductions fill her inbox, the third is refused by the bound.
    expect(await introduce(alice, 'carol')).toBe(201)
    expect(await introduce(bob, 'carol')).toBe(201)
    expect(await introduce(alice, 'carol')).toBe(429)

    text = await scrape(base)
    expect(sample(text, 'punchline_polls_held')).toBe(0)
    expect(sample(text, 'punchline_introductions_created_total')).toBe(3)
    expect(sample(text, 'punchline_introductions_delivered_total')).toBe(1)
    expect(sample(text, 'punchline_limit_rejections_total{code="PUNCH_ERR_INBOX_FULL"}')).toBe(1)
    expect(sample(text, 'punchline_http_request_duration_seconds_count{method="POST",route="/v1/introductions",status_code="201"}')).toBe(3)
    expect(sample(text, 'punchline_http_request_duration_seconds_count{method="POST",route="/v1/introductions",status_code="429"}')).toBe(1)
    // The poll was answered, and is not timed: its time is the wait it asked for.
    expect(text).not.toContain('route="/v1/peers/:peerId/inbox"')

    // An hour later: alice's registration and every introduction have expired. bob's was
    // delivered but never acknowledged, as were carol's two: three expired undelivered.
    clock = new Date(clock.getTime() + 3600_000 - 1000)
    await app.sweepExpired()
    text = await scrape(base)
    expect(sample(text, 'punchline_registrations_live')).toBe(2)
    expect(sample(text, 'punchline_introductions_expired_total')).toBe(3)
  })

  it('counts 413 body-limit refusals by their table code, and stays out of the OpenAPI document', async () => {
    app = await buildTestApp({ bodyLimitBytes: 1024 })
    const base = await listenOnLoopback(app)
    const big = await fetch(`${base}/v1/peers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ privateEndpoints: [], pad: 'x'.repeat(2000) }) })
    expect(big.status).toBe(413)
    expect(sample(await scrape(base), 'punchline_limit_rejections_total{code="PUNCH_ERR_BODY_TOO_LARGE"}')).toBe(1)
    const document = app.swagger() as { paths: Record<string, unknown> }
    expect(Object.keys(document.paths)).not.toContain('/metrics')
  })
})
