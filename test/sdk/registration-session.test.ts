// The registration session against a rendezvous server that says "not now":
// a test double of the server (fault injection), answering the first poll
// with 429 and Retry-After. The session waits what it was told, says so in
// its trace (rate-limited, not registration-lost), and polls again.
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer, ServerRejectedError, type PeerEvent } from '../../sdk/index.js'
import { waitFor } from '../helpers.js'
import { emptyInbox, json, rateLimited, registrationOf, rendezvousDouble, type Answer, type RendezvousDoubleOptions } from './rendezvous-double.js'

const closing: Array<() => Promise<void>> = []
afterEach(async () => { for (const close of closing.splice(0)) await close() })

async function serverDouble (options: RendezvousDoubleOptions): Promise<{ url: string, polls: number[] }> {
  const server = await rendezvousDouble(options)
  closing.push(server.close)
  return server
}

describe('the registration session, told to wait', () => {
  it('waits the Retry-After of a 429 before polling again, and traces rate-limited with the server\'s code', async () => {
    const server = await serverDouble({
      poll: (response, count) => {
        if (count === 1) rateLimited(response, 1)
        else emptyInbox(response, count)
      }
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
    const server = await serverDouble({ poll: (response) => { rateLimited(response, 10 ** 9) } })
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event) })
    closing.push(async () => { await bob.close({ deregister: false }) })
    await waitFor(() => events.some((event) => event.type === 'rate-limited'), 5000, 'the rate-limited event')
    expect(events.find((event) => event.type === 'rate-limited')).toMatchObject({ retryInMs: 5 * 60_000 })
  })

  it('hands a 429 on connect() to the caller as a retryable error that carries the wait', async () => {
    const server = await serverDouble({ introduce: (response) => { rateLimited(response, 7, 'PUNCH_ERR_INBOX_FULL') } })
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1 })
    closing.push(async () => { await bob.close({ deregister: false }) })
    const error = await bob.connect('carol').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ServerRejectedError)
    expect(error).toMatchObject({ code: 'PUNCH_ERR_SERVER_REJECTED', status: 429, serverCode: 'PUNCH_ERR_INBOX_FULL', retryable: true, retryAfterMs: 7000 })
  })
})

describe('the SDK\'s errors', () => {
  it('each have their own stable code, the README\'s table lists every one', async () => {
    const sdk = await import('../../sdk/errors.js')
    const codes = Object.values(sdk).filter((value) => typeof value === 'function' && value !== sdk.PunchlineError)
      .map((ErrorClass) => new (ErrorClass as new (...args: unknown[]) => { code: string })('x', 500, 'HTTP_500').code)
    expect(new Set(codes).size).toBe(codes.length)
    expect(codes.every((code) => /^PUNCH_ERR_[A-Z_]+$/.test(code))).toBe(true)
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const table = readme.slice(readme.indexOf('Errors are classes'), readme.indexOf('**Trace events**'))
    // The table's code column: "| `ClassName` | `PUNCH_ERR_…` | …", or two of each joined by " / " (other cells may name the server's codes).
    const listed = [...table.matchAll(/^\| [^|]+ \| ([^|]+) \|/gm)].flatMap((match) => match[1]!.match(/PUNCH_ERR_[A-Z_]+/g) ?? [])
    expect(new Set(listed)).toEqual(new Set(codes))
  })
})

describe('answers from a lying or broken server', () => {
  /** A registration of "bob" with the key the request proved. */
  const registered: Answer = (response, _count, body) => { json(response, 201, registrationOf(body)) }

  it('refuses an answer that is too big, not JSON, or not the protocol\'s schema, with PUNCH_ERR_INVALID_RESPONSE', async () => {
    const answers: Answer[] = [
      (response) => { response.writeHead(201, { 'content-type': 'application/json' }).end(`{"id":"bob","pad":"${'x'.repeat(600 * 1024)}"}`) },
      (response) => { response.writeHead(201, { 'content-type': 'application/json' }).end('<html>surprise</html>') },
      (response) => { response.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"bob","token":"pl_x"}') },
      registered, // fine, but for another id than asked below
      (response) => { json(response, 201, registrationOf({ proof: { publicKey: 'k'.repeat(43) } })) } // with a key that is not ours
    ]
    for (const [n, register] of answers.entries()) {
      const server = await serverDouble({ register })
      const error = await Peer.open({ server: server.url, id: n === 3 ? 'carol' : 'bob', localAddress: '127.0.0.1', privateEndpoints: [] }).catch((caught: unknown) => caught)
      expect(error, `answer ${n}`).toMatchObject({ code: 'PUNCH_ERR_INVALID_RESPONSE', retryable: true })
    }
  })

  it('backs off from an inbox that breaks the protocol, and punches nothing the server made up', async () => {
    const now = Date.now()
    const introduction = (self: string, endpoints: number) => ({
      id: '5d7ad9a2-1c8e-4f5b-9a55-6a0b8f6f9d11',
      secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA',
      role: 'target',
      self: { id: self, publicEndpoint: { address: '127.0.0.1', port: 1 }, privateEndpoints: [], publicKey: null, mapping: 'unknown' },
      peer: { id: 'mallory', publicEndpoint: { address: '127.0.0.1', port: 9 }, privateEndpoints: Array.from({ length: endpoints }, (_, n) => ({ address: '10.0.0.1', port: n + 1 })), publicKey: null, mapping: 'unknown' },
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 30_000).toISOString()
    })
    const server = await serverDouble({
      poll: (response, count) => {
        const inbox = count === 1 ? [introduction('bob', 101)] : count === 2 ? [introduction('carol', 0)] : []
        json(response, 200, { introductions: inbox, cursor: count })
      }
    })
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1, onTrace: (event) => events.push(event) })
    closing.push(async () => { await bob.close({ deregister: false }) })
    await waitFor(() => server.polls.length >= 3, 10_000, 'the third poll')
    // 101 private endpoints is outside the schema: the whole answer is refused, and the session backs off.
    expect(events.find((event) => event.type === 'server-unreachable')).toMatchObject({ message: expect.stringContaining('not an inbox of the protocol') })
    // An introduction for someone else is declined, not punched.
    expect(events.find((event) => event.type === 'declined')).toMatchObject({ reason: 'invalid', peerId: 'mallory' })
    expect(events.map((event) => event.type)).not.toContain('introduced')
  })
})
