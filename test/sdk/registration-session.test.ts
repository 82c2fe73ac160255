// The registration session against a rendezvous server that says "not now":
// a test double of the server (fault injection), answering the first poll
// with 429 and Retry-After. The session waits what it was told, says so in
// its trace (rate-limited, not registration-lost), and polls again.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer, ServerRejectedError, type PeerEvent } from '../../sdk/index.js'
import { waitFor } from '../helpers.js'

const closing: Array<() => Promise<void>> = []
afterEach(async () => { for (const close of closing.splice(0)) await close() })

type Answer = (response: ServerResponse, count: number) => void
const emptyInbox: Answer = (response) => { response.writeHead(200, { 'content-type': 'application/json' }).end('{"introductions":[],"cursor":0}') }

/** A server double: registers anyone, answers polls and introductions as told, and everything else with 204. */
async function serverDouble (poll: Answer, introduce?: Answer): Promise<{ url: string, polls: number[] }> {
  const polls: number[] = []
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume()
    if (request.method === 'POST' && request.url === '/v1/peers') {
      const now = new Date().toISOString()
      response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: 'bob', publicEndpoint: { address: '127.0.0.1', port: request.socket.remotePort }, privateEndpoints: [], ttlSeconds: 90, createdAt: now, expiresAt: now, token: `pl_${'a'.repeat(43)}`
      }))
    } else if (request.url?.startsWith('/v1/peers/bob/inbox') === true) {
      polls.push(performance.now())
      poll(response, polls.length)
    } else if (request.url === '/v1/introductions' && introduce !== undefined) {
      introduce(response, 1)
    } else {
      response.writeHead(204).end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  closing.push(async () => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, polls }
}

function rateLimited (response: ServerResponse, retryAfterSeconds: number, code = 'PUNCH_ERR_RATE_LIMITED'): void {
  response.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterSeconds) })
    .end(JSON.stringify({ statusCode: 429, code, error: 'Too Many Requests', message: 'not now' }))
}

describe('the registration session, told to wait', () => {
  it('waits the Retry-After of a 429 before polling again, and traces rate-limited with the server\'s code', async () => {
    const server = await serverDouble((response, count) => {
      if (count === 1) rateLimited(response, 1)
      else emptyInbox(response, count)
    })
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1, onTrace: (event) => events.push(event) })
    closing.push(async () => { await bob.close() })
    await waitFor(() => server.polls.length >= 2, 5000, 'the second poll')
    expect(events.find((event) => event.type === 'rate-limited')).toMatchObject({ serverCode: 'PUNCH_ERR_RATE_LIMITED', retryInMs: 1000 })
    expect(events.map((event) => event.type)).not.toContain('registration-lost')
    expect(server.polls[1]! - server.polls[0]!).toBeGreaterThanOrEqual(990)
  })

  it('believes a Retry-After only up to five minutes', async () => {
    const server = await serverDouble((response) => { rateLimited(response, 10 ** 9) })
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event) })
    closing.push(async () => { await bob.close({ deregister: false }) })
    await waitFor(() => events.some((event) => event.type === 'rate-limited'), 5000, 'the rate-limited event')
    expect(events.find((event) => event.type === 'rate-limited')).toMatchObject({ retryInMs: 5 * 60_000 })
  })

  it('hands a 429 on connect() to the caller as a retryable error that carries the wait', async () => {
    const server = await serverDouble(emptyInbox, (response) => { rateLimited(response, 7, 'PUNCH_ERR_INBOX_FULL') })
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1 })
    closing.push(async () => { await bob.close({ deregister: false }) })
    const error = await bob.connect('carol').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ServerRejectedError)
    expect(error).toMatchObject({ code: 'PUNCH_ERR_SERVER_REJECTED', status: 429, serverCode: 'PUNCH_ERR_INBOX_FULL', retryable: true, retryAfterMs: 7000 })
  })
})

describe('the SDK\'s errors', () => {
  it('each have their own stable code', async () => {
    const sdk = await import('../../sdk/errors.js')
    const codes = Object.values(sdk).filter((value) => typeof value === 'function' && value !== sdk.PunchlineError)
      .map((ErrorClass) => new (ErrorClass as new (...args: unknown[]) => { code: string })('x', 500, 'HTTP_500').code)
    expect(codes.length).toBe(12)
    expect(new Set(codes).size).toBe(codes.length)
    expect(codes.every((code) => /^PUNCH_ERR_[A-Z_]+$/.test(code))).toBe(true)
  })
})
