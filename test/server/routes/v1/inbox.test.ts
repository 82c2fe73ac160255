// The long-poll over real HTTP on loopback: woken by an introduction, timing
// out empty, released when the client goes away or the server shuts down.
import http from 'node:http'
import { Client } from 'undici'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenOnLoopback, registerOverHttp, waitFor, type RegisteredPeer } from '../../../helpers.js'

describe('GET /v1/peers/{peerId}/inbox over HTTP', () => {
  let app: FastifyInstance
  let baseUrl: string
  let alice: RegisteredPeer
  let bob: RegisteredPeer
  beforeEach(async () => {
    app = await buildTestApp()
    baseUrl = await listenOnLoopback(app)
    alice = await registerOverHttp(baseUrl, { id: 'alice', privateEndpoints: [{ address: '192.168.7.7', port: 7000 }] })
    bob = await registerOverHttp(baseUrl, { id: 'bob' })
  })
  afterEach(async () => { await app.close() })

  const poll = async (peer: RegisteredPeer, query: string): Promise<Response> =>
    await fetch(`${baseUrl}/v1/peers/${peer.id}/inbox?${query}`, { headers: bearer(peer) })

  it('holds the poll and answers it the moment an introduction for the peer is stored', async () => {
    const held = poll(bob, 'wait=20')
    await waitFor(() => app.inboxWaiters.size === 1, 5000, 'the poll to be held')
    const started = performance.now()
    const made = await fetch(`${baseUrl}/v1/introductions`, {
      method: 'POST',
      headers: { ...bearer(alice), 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'bob' })
    })
    expect(made.status).toBe(201)
    const introduction = await made.json() as { id: string, secret: string, self: { publicEndpoint: { address: string, port: number } } }
    const response = await held
    const elapsedMs = performance.now() - started
    expect(response.status).toBe(200)
    const inbox = await response.json() as { introductions: Array<Record<string, any>>, cursor: number }
    expect(inbox.introductions).toHaveLength(1)
    expect(inbox.introductions[0]).toMatchObject({
      id: introduction.id,
      secret: introduction.secret,
      role: 'target',
      // Alice's endpoint as seen on the connection that carried her introduction request.
      peer: { id: 'alice', publicEndpoint: introduction.self.publicEndpoint, privateEndpoints: [{ address: '192.168.7.7', port: 7000 }] }
    })
    // Woken by the introduction, not by the 20 s wait running out.
    expect(introduction.self.publicEndpoint.address).toBe('127.0.0.1')
    expect(elapsedMs).toBeLessThan(2000)
    console.log(`held poll answered ${elapsedMs.toFixed(1)} ms after the introduction request started`)
    expect(app.inboxWaiters.size).toBe(0)
  })

  it('is not woken by an introduction for another peer', async () => {
    const carol = await registerOverHttp(baseUrl, { id: 'carol' })
    const held = poll(bob, 'wait=1')
    await waitFor(() => app.inboxWaiters.size === 1)
    await fetch(`${baseUrl}/v1/introductions`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: JSON.stringify({ target: 'carol' }) })
    expect(await (await held).json()).toEqual({ introductions: [], cursor: 0 })
    expect((await (await poll(carol, 'wait=0')).json() as { introductions: unknown[] }).introductions).toHaveLength(1)
  })

  it('answers empty when the wait runs out', async () => {
    const started = performance.now()
    const response = await poll(bob, 'wait=1')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ introductions: [], cursor: 0 })
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
    expect(app.inboxWaiters.size).toBe(0)
  })

  it('holds a poll no longer than the deployment\'s maximum wait', async () => {
    await app.close()
    app = await buildTestApp({ maxPollWaitSeconds: 1 })
    baseUrl = await listenOnLoopback(app)
    bob = await registerOverHttp(baseUrl, { id: 'bob' })
    const started = performance.now()
    const response = await poll(bob, 'wait=20')
    expect(await response.json()).toEqual({ introductions: [], cursor: 0 })
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('returns pending introductions at once, without waiting', async () => {
    await fetch(`${baseUrl}/v1/introductions`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: JSON.stringify({ target: 'bob' }) })
    const started = performance.now()
    const inbox = await (await poll(bob, 'wait=20')).json() as { introductions: unknown[] }
    expect(inbox.introductions).toHaveLength(1)
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('releases the held poll when the client disconnects', async () => {
    // node:http, not fetch: undici reconnects after an abort, which would muddy what the server sees.
    const request = http.get(`${baseUrl}/v1/peers/bob/inbox?wait=30`, { headers: bearer(bob) })
    const ended = new Promise((resolve) => request.on('error', resolve))
    await waitFor(() => app.inboxWaiters.size === 1)
    request.destroy()
    await ended
    await waitFor(() => app.inboxWaiters.size === 0, 2000, 'the server to release the abandoned poll')
  })

  it('answers a held poll at once when the same peer sends another request, pipelined on the same connection', async () => {
    // The SDK's situation: one connection (from its punch port), the poll held on it, the next request pipelined behind.
    const client = new Client(baseUrl, { pipelining: 2 })
    try {
      const started = performance.now()
      const held = client.request({ method: 'GET', path: '/v1/peers/alice/inbox?wait=20', headers: bearer(alice), blocking: false })
      await waitFor(() => app.inboxWaiters.size === 1)
      const made = await client.request({
        method: 'POST',
        path: '/v1/introductions',
        headers: { ...bearer(alice), 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'bob' }),
        idempotent: true // lets undici pipeline it
      })
      expect(made.statusCode).toBe(201)
      await made.body.dump()
      const poll = await held
      expect(poll.statusCode).toBe(200)
      expect(await poll.body.json()).toEqual({ introductions: [], cursor: 0 })
      expect(performance.now() - started).toBeLessThan(10_000) // released, not timed out after 20 s
    } finally {
      await client.close()
    }
  })

  /**
   * Alice's poll on `path` is held on one connection; 100 ms later an introduction is pipelined
   * behind it. The poll must answer at once (released), not after its 20 s wait.
   */
  async function expectReleasedByPipelinedIntroduction (path: string): Promise<void> {
    const client = new Client(baseUrl, { pipelining: 2 })
    try {
      const started = performance.now()
      const held = client.request({ method: 'GET', path, headers: bearer(alice), blocking: false })
      await new Promise((resolve) => setTimeout(resolve, 100))
      const made = await client.request({ method: 'POST', path: '/v1/introductions', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: '{"target":"bob"}', idempotent: true })
      expect(made.statusCode).toBe(201)
      await made.body.dump()
      expect((await held).statusCode).toBe(200)
      expect(performance.now() - started).toBeLessThan(5000)
    } finally {
      await client.close()
    }
  }

  it('is released by a pipelined request that arrives while the poll is still reading the inbox', async () => {
    // Hold the poll inside its acknowledgement long enough for the next request to arrive meanwhile.
    const acknowledge = app.introductions.acknowledge.bind(app.introductions)
    app.introductions.acknowledge = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 300))
      return await acknowledge(...args)
    }
    await expectReleasedByPipelinedIntroduction('/v1/peers/alice/inbox?after=0&wait=20') // the poll sits in its acknowledgement
  })

  it('is released by a pipelined request that arrives before the poll\'s handler even runs', async () => {
    // Hold the poll between its authentication and its handler (in the per-peer rate limiter).
    const limitPeer = app.limitPeer
    let first = true
    app.limitPeer = async (request) => {
      if (first) {
        first = false
        await new Promise((resolve) => setTimeout(resolve, 300))
      }
      await limitPeer(request)
    }
    await expectReleasedByPipelinedIntroduction('/v1/peers/alice/inbox?wait=20') // the poll sits in the limiter
  })

  it('lets a new poll replace the held one, which answers at once', async () => {
    const first = poll(bob, 'wait=20')
    await waitFor(() => app.inboxWaiters.size === 1)
    const second = poll(bob, 'wait=1')
    expect(await (await first).json()).toEqual({ introductions: [], cursor: 0 })
    expect(app.inboxWaiters.size).toBe(1) // the second one, now held
    await second
  })

  it('answers held polls (empty) promptly when the server shuts down', async () => {
    const held = poll(bob, 'wait=30')
    await waitFor(() => app.inboxWaiters.size === 1)
    const started = performance.now()
    await app.close()
    const response = await held
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ introductions: [], cursor: 0 })
    expect(performance.now() - started).toBeLessThan(5000)
  })
})
