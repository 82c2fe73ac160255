// Slow senders are cut off: a request whose headers, or whose body, do not
// arrive in time gets its connection closed. A held long-poll is an answer in
// waiting, not a slow request, and is not cut.
import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenOnLoopback, registerOverHttp } from '../helpers.js'

describe('header and request timeouts', () => {
  let app: FastifyInstance
  afterEach(async () => { await app.close() })

  async function stall (url: string, bytes: string): Promise<{ closedAfterMs: number, answer: string }> {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname)
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
    socket.on('error', () => {})
    await once(socket, 'connect')
    const started = performance.now()
    socket.write(bytes)
    await once(socket, 'close')
    return { closedAfterMs: performance.now() - started, answer }
  }

  it('closes a connection whose headers do not all arrive in time (slowloris)', async () => {
    app = await buildTestApp({ headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 })
    const url = await listenOnLoopback(app)
    const { closedAfterMs, answer } = await stall(url, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    expect(closedAfterMs).toBeGreaterThan(900)
    expect(closedAfterMs).toBeLessThan(3000) // 1 s, checked every second
    expect(answer).toMatch(/^HTTP\/1.1 408/)
  })

  it('closes a connection whose body does not all arrive in time', async () => {
    app = await buildTestApp({ headersTimeoutSeconds: 1, requestTimeoutSeconds: 2 })
    const url = await listenOnLoopback(app)
    const { closedAfterMs, answer } = await stall(url, 'POST /v1/peers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"privateEndp')
    expect(closedAfterMs).toBeGreaterThan(1900)
    expect(closedAfterMs).toBeLessThan(4000)
    expect(answer).toMatch(/^HTTP\/1.1 408/)
  })

  it('does not cut a held long-poll that outlasts the request timeout', async () => {
    app = await buildTestApp({ headersTimeoutSeconds: 1, requestTimeoutSeconds: 1 })
    const url = await listenOnLoopback(app)
    const bob = await registerOverHttp(url, { id: 'bob' })
    const response = await fetch(`${url}/v1/peers/bob/inbox?wait=3`, { headers: bearer(bob) })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ introductions: [], cursor: 0 })
  })
})
