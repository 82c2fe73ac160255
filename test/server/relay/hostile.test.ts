// Hostile clients of the relay: a side that floods before its peer attaches,
// a peer that never reads, resets in the middle of an upgrade, upgrades to
// routes that are not the relay, and a server that shuts down under relayed
// connections. None may crash the server or grow its memory or sockets
// without bound; the relay's buffers are read from the server itself.
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { waitFor } from '../../helpers.js'
import { relayServer } from './fixture.js'
import { payload, rawUpgrade, readAll, sha256 } from './raw-upgrade.js'

const KiB = 1024
const MiB = 1024 * KiB
/**
 * What the relay may hold for one direction of a relayed connection, whatever the ends do: a read and a write
 * buffer of the socket's high-water mark, each past it by at most one read (64 KiB); 128 KiB measured.
 */
const BUFFER_BOUND = 256 * KiB

/** The most the relay held over `ms`, sampled every 10 ms. */
async function mostBufferedOver (buffered: () => number, ms: number): Promise<number> {
  let most = 0
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    most = Math.max(most, buffered())
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return most
}

describe('the relay under hostile clients', () => {
  it('holds a bounded amount of what a lone side floods before its peer attaches, and delivers all of it after', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const flood = payload(8 * MiB)
    const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token, early: flood.bytes.subarray(0, 4096) })
    expect(alice.status).toBe(101)
    alice.socket.end(flood.bytes.subarray(4096))
    const most = await mostBufferedOver(() => fixture.app.relays.bufferedBytes(), 500)
    expect(most).toBeLessThan(BUFFER_BOUND)
    expect(alice.socket.writableLength).toBeGreaterThan(4 * MiB) // the rest waits on alice's side: TCP holds it back
    const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
    bob.socket.end()
    const received = await readAll(bob.socket)
    expect(received.length).toBe(flood.bytes.length)
    expect(sha256(received)).toBe(flood.sha256)
  })

  it('holds a bounded amount for a peer that never reads, and slows its sender instead; all arrives once it reads', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token })
    const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
    const sent = payload(16 * MiB)
    alice.socket.end(sent.bytes)
    // bob reads nothing for a second.
    const most = await mostBufferedOver(() => fixture.app.relays.bufferedBytes(), 1000)
    expect(most).toBeLessThan(BUFFER_BOUND)
    expect(alice.socket.writableLength).toBeGreaterThan(8 * MiB)
    bob.socket.end()
    const received = await readAll(bob.socket)
    expect(sha256(received)).toBe(sent.sha256)
  })

  it('carries a side that half-closes while it waits: its bytes and its EOF reach the peer, which still answers', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token })
    alice.socket.end('a request, then EOF, before bob is there')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(fixture.app.relays.counts()).toEqual({ waiting: 1, spliced: 0 })
    const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
    expect((await readAll(bob.socket)).toString()).toBe('a request, then EOF, before bob is there')
    bob.socket.end('the answer')
    expect((await readAll(alice.socket)).toString()).toBe('the answer')
  })

  it('survives clients that reset in the middle of an upgrade, and keeps nothing of them', async () => {
    const fixture = await relayServer()
    const { hostname, port } = new URL(fixture.url)
    const ids = await Promise.all(Array.from({ length: 10 }, async () => await fixture.introduce(fixture.alice, fixture.bob)))
    const head = (id: string): string => `GET /v1/introductions/${id}/relay HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: punchline-relay/1\r\nAuthorization: Bearer ${fixture.alice.token}\r\n\r\n`
    for (const [n, id] of ids.entries()) {
      const socket = connect({ port: Number(port), host: hostname })
      socket.on('error', () => {})
      await new Promise((resolve) => socket.once('connect', resolve))
      // Half of them reset at once (while the server looks the introduction up), half right after their 101.
      if (n % 2 === 0) {
        socket.write(head(id), () => { socket.resetAndDestroy() })
      } else {
        socket.write(head(id))
        await new Promise((resolve) => socket.once('data', resolve))
        socket.resetAndDestroy()
      }
      await new Promise((resolve) => socket.once('close', resolve))
    }
    await waitFor(() => fixture.app.relays.counts().waiting === 0, 3000, 'every half-made relay to go')
    expect(fixture.app.relays.attachedBy('alice')).toBe(0)
    // Still serving, the relay included.
    const fresh = await fixture.introduce(fixture.alice, fixture.bob)
    expect((await rawUpgrade(fixture.url, fresh, { token: fixture.alice.token })).status).toBe(101)
  })

  it('answers an upgrade to a route that is not the relay as that route would, and closes the connection', async () => {
    const fixture = await relayServer()
    const { hostname, port } = new URL(fixture.url)
    const raw = async (request: string): Promise<string> => {
      const socket = connect({ port: Number(port), host: hostname })
      socket.on('error', () => {})
      socket.end(request)
      return (await readAll(socket)).toString()
    }
    // Node hands a body behind an upgrade over as the upgrade's first bytes, never as the body: the length does not match, 400.
    const posted = await raw('POST /v1/peers HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"id":"mallory","privateEndpoints":[]}  ')
    expect(posted).toMatch(/^HTTP\/1\.1 400 /)
    expect(posted).toMatch(/connection: close/i)
    const unknown = await raw('GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
    expect(unknown).toMatch(/^HTTP\/1\.1 404 [^]*PUNCH_ERR_ROUTE_NOT_FOUND/)
    const health = await raw('GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')
    expect(health).toMatch(/^HTTP\/1\.1 200 [^]*"status"/)
    expect((await fetch(`${fixture.url}/v1/peers/mallory`, { headers: { authorization: `Bearer ${fixture.alice.token}` } })).status).toBe(403) // nobody registered mallory
  })

  it('ends every relayed connection when the server closes, at once', async () => {
    const fixture = await relayServer()
    const spliced = await fixture.introduce(fixture.alice, fixture.bob)
    const a = await rawUpgrade(fixture.url, spliced, { token: fixture.alice.token })
    const b = await rawUpgrade(fixture.url, spliced, { token: fixture.bob.token })
    const lone = await rawUpgrade(fixture.url, await fixture.introduce(fixture.carol, fixture.bob), { token: fixture.carol.token })
    for (const side of [a, b, lone]) side.socket.resume()
    const started = Date.now()
    await fixture.app.close()
    await Promise.all([a.closed, b.closed, lone.closed])
    expect(Date.now() - started).toBeLessThan(2000) // well within the 5 s grace that would otherwise pass
    expect([a.wasReset(), b.wasReset(), lone.wasReset()]).toEqual([true, true, true])
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })
  })
})
