// Two instances on one PostgreSQL database behave as one service: a poll held
// by one is woken at once by an introduction made through the other (NOTIFY,
// not table polling), a registration changed on one is dropped from the
// other's token cache, and the inbox and per-address bounds hold across both.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenOnLoopback, registerOverHttp, waitFor } from '../../helpers.js'
import { LIMITS_LIFTED } from '../../../lab/limits-lifted.js'
import { startTestPostgres } from '../../postgres.js'

const postgres = await startTestPostgres()

describe.skipIf(postgres.skipReason !== undefined)('two instances on one PostgreSQL database', () => {
  const apps: FastifyInstance[] = []
  afterEach(async () => { for (const app of apps.splice(0)) await app.close() })

  async function instances (options: Parameters<typeof buildTestApp>[0] = {}): Promise<Array<{ app: FastifyInstance, url: string }>> {
    const databasePath = await postgres.database()
    const started = []
    for (let n = 0; n < 2; n++) {
      const app = await buildTestApp({ ...LIMITS_LIFTED, ...options, databasePath })
      apps.push(app)
      started.push({ app, url: await listenOnLoopback(app) })
    }
    return started
  }

  const introduce = async (url: string, from: { token: string }, target: string): Promise<Response> =>
    await fetch(`${url}/v1/introductions`, { method: 'POST', headers: { ...bearer(from), 'content-type': 'application/json' }, body: JSON.stringify({ target }) })

  it('wakes a poll held by one instance the moment an introduction is made through the other', async () => {
    const [one, two] = await instances()
    const alice = await registerOverHttp(one!.url, { id: 'alice' })
    const bob = await registerOverHttp(two!.url, { id: 'bob' })
    const latencies: number[] = []
    let cursor = 0
    for (let round = 0; round < 20; round++) {
      const held = fetch(`${two!.url}/v1/peers/bob/inbox?wait=20&after=${cursor}`, { headers: bearer(bob) })
      await waitFor(() => two!.app.inboxWaiters.size === 1)
      const started = performance.now()
      const made = await (await introduce(one!.url, alice, 'bob')).json() as { id: string }
      const inbox = await (await held).json() as { introductions: Array<{ id: string }>, cursor: number }
      latencies.push(performance.now() - started)
      expect(inbox.introductions.map((introduction) => introduction.id)).toEqual([made.id])
      cursor = inbox.cursor
    }
    latencies.sort((a, b) => a - b)
    console.log(`cross-instance push, introduce request to poll answer: median ${latencies[10]!.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`)
    // Far below any table-polling interval worth having, and far below the 20 s wait.
    expect(latencies[10]).toBeLessThan(200)
  })

  it('drops a registration from the other instance\'s token cache when it is deregistered or renewed', async () => {
    const [one, two] = await instances()
    const alice = await registerOverHttp(one!.url, { id: 'alice', privateEndpoints: [{ address: '10.0.0.1', port: 1 }] })
    const read = async (url: string) => await fetch(`${url}/v1/peers/alice`, { headers: bearer(alice) })
    expect((await read(two!.url)).status).toBe(200) // instance two now holds alice's token
    // Renewed through one with new private endpoints: two answers with them, not its cached copy.
    await fetch(`${one!.url}/v1/peers`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: JSON.stringify({ id: 'alice', privateEndpoints: [{ address: '10.0.0.2', port: 2 }] }) })
    await waitFor(async () => (await (await read(two!.url)).json() as { privateEndpoints: Array<{ port: number }> }).privateEndpoints[0]?.port === 2, 2000, 'instance two to see the renewal')
    expect((await fetch(`${one!.url}/v1/peers/alice`, { method: 'DELETE', headers: bearer(alice) })).status).toBe(204)
    await waitFor(async () => (await read(two!.url)).status === 401, 2000, 'instance two to refuse the token')
  })

  it('keeps one inbox bound across instances', async () => {
    const [one, two] = await instances({ maxPendingIntroductions: 5 })
    const alice = await registerOverHttp(one!.url, { id: 'alice' })
    await registerOverHttp(two!.url, { id: 'bob' })
    const statuses = await Promise.all(Array.from({ length: 12 }, async (_, n) => (await introduce(n % 2 === 0 ? one!.url : two!.url, alice, 'bob')).status))
    expect(statuses.filter((status) => status === 201)).toHaveLength(5)
    expect(statuses.filter((status) => status === 429)).toHaveLength(7)
    expect(await one!.app.prisma.introduction.count()).toBe(5)
  })

  it('keeps the live registrations per address bounded across instances', async () => {
    const [one, two] = await instances({ maxRegistrationsPerAddress: 3 })
    const statuses = await Promise.all(Array.from({ length: 8 }, async (_, n) => (await fetch(`${(n % 2 === 0 ? one! : two!).url}/v1/peers`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: `peer-${n}`, privateEndpoints: [] })
    })).status))
    expect(statuses.filter((status) => status === 201)).toHaveLength(3)
    expect(statuses.filter((status) => status === 429)).toHaveLength(5)
  })

  it('refuses a second registration of one free id made through both instances at once', async () => {
    const [one, two] = await instances()
    const statuses = await Promise.all([one!, two!, one!, two!].map(async ({ url }) => (await fetch(`${url}/v1/peers`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"carol","privateEndpoints":[]}'
    })).status))
    expect(statuses.sort()).toEqual([201, 409, 409, 409])
  })
})
