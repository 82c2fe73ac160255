// The relay splices the two peers of an introduction: every byte both ways,
// in order (SHA-256 over several MiB), the bytes a side sends before the
// other attaches, half-close passed on, a reset passed on as a reset, TCP
// keepalive on its sockets, and nothing left behind.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { handles, waitFor } from '../../helpers.js'
import { relayServer, sample, type RelayFixture } from './fixture.js'
import { payload, rawUpgrade, readAll, sha256, type RawAnswer } from './raw-upgrade.js'

const MiB = 1024 * 1024

/** An introduction of alice to bob, and both attached to its relay. */
async function attachedPair (fixture: RelayFixture): Promise<{ id: string, alice: RawAnswer, bob: RawAnswer }> {
  const id = await fixture.introduce(fixture.alice, fixture.bob)
  const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token })
  const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
  expect([alice.status, bob.status]).toEqual([101, 101])
  return { id, alice, bob }
}

/** Sends `aToB` bytes one way and `bToA` the other at the same time, each side ending after its bytes; answers what each side received. */
async function exchange (a: RawAnswer, b: RawAnswer, aToB: Buffer, bToA: Buffer): Promise<{ atA: Buffer, atB: Buffer }> {
  const [atA, atB] = await Promise.all([readAll(a.socket), readAll(b.socket), a.socket.end(aToB), b.socket.end(bToA)])
  return { atA, atB }
}

describe('the relay splices two peers', () => {
  it('carries 8 MiB each way, every byte in order, and counts them', async () => {
    const fixture = await relayServer()
    const { alice, bob } = await attachedPair(fixture)
    const up = payload(8 * MiB)
    const down = payload(8 * MiB)
    const { atA, atB } = await exchange(alice, bob, up.bytes, down.bytes)
    expect(atB.length).toBe(up.bytes.length)
    expect(sha256(atB)).toBe(up.sha256)
    expect(atA.length).toBe(down.bytes.length)
    expect(sha256(atA)).toBe(down.sha256)
    await Promise.all([alice.closed, bob.closed])
    expect(alice.wasReset() || bob.wasReset()).toBe(false)
    await waitFor(() => fixture.app.relays.counts().spliced === 0, 2000, 'the relay to end')
    const metrics = await fixture.metrics()
    expect(sample(metrics, 'punchline_relayed_bytes_total{direction="initiator_to_target"}')).toBe(8 * MiB)
    expect(sample(metrics, 'punchline_relayed_bytes_total{direction="target_to_initiator"}')).toBe(8 * MiB)
    expect(sample(metrics, 'punchline_relayed_connections_ended_total{reason="closed"}')).toBe(1)
  })

  it('carries 3 concurrent relayed connections of 4 MiB each way, each intact', async () => {
    const fixture = await relayServer()
    const pairs = await Promise.all([0, 1, 2].map(async () => await attachedPair(fixture)))
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 3 })
    const results = await Promise.all(pairs.map(async ({ alice, bob }) => {
      const up = payload(4 * MiB)
      const down = payload(4 * MiB)
      const { atA, atB } = await exchange(alice, bob, up.bytes, down.bytes)
      return [sha256(atB) === up.sha256, sha256(atA) === down.sha256]
    }))
    expect(results).toEqual([[true, true], [true, true], [true, true]])
  })

  it('delivers what the first side sent before the second attached, in order, even bytes sent with the request', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const early = payload(256 * 1024)
    // The first 1000 bytes travel right behind the request's head (Node hands them over with the upgrade).
    const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token, early: early.bytes.subarray(0, 1000) })
    expect(alice.status).toBe(101)
    alice.socket.write(early.bytes.subarray(1000))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
    expect(bob.status).toBe(101)
    const later = payload(64 * 1024)
    alice.socket.end(later.bytes)
    bob.socket.end()
    const atBob = await readAll(bob.socket)
    expect(sha256(atBob)).toBe(sha256(Buffer.concat([early.bytes, later.bytes])))
  })

  it('passes a half-close on: after one side ends, the other still sends, and both close cleanly', async () => {
    const fixture = await relayServer()
    const { alice, bob } = await attachedPair(fixture)
    alice.socket.end('request, then EOF')
    const atBob = await readAll(bob.socket) // ends: alice's FIN reached bob
    expect(atBob.toString()).toBe('request, then EOF')
    expect(bob.socket.writable).toBe(true)
    bob.socket.end('answer after the EOF')
    expect((await readAll(alice.socket)).toString()).toBe('answer after the EOF')
    await Promise.all([alice.closed, bob.closed])
    expect(alice.wasReset() || bob.wasReset()).toBe(false)
    await waitFor(async () => sample(await fixture.metrics(), 'punchline_relayed_connections_ended_total{reason="closed"}') === 1, 2000, 'an orderly end')
  })

  it('passes a reset on as a reset, and counts it', async () => {
    const fixture = await relayServer()
    const { alice, bob } = await attachedPair(fixture)
    alice.socket.write('hello')
    expect((await new Promise<Buffer>((resolve) => bob.socket.once('data', resolve))).toString()).toBe('hello')
    alice.socket.resetAndDestroy()
    bob.socket.resume()
    await bob.closed
    expect(bob.wasReset()).toBe(true)
    await waitFor(async () => sample(await fixture.metrics(), 'punchline_relayed_connections_ended_total{reason="reset"}') === 1, 2000, 'a reset end')
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })
  })

  it('turns TCP keepalive on for both relayed sockets (ss shows the keepalive timer)', async (context) => {
    try {
      execFileSync('ss', ['-V'])
    } catch {
      context.skip('ss (iproute2) is not installed')
    }
    const fixture = await relayServer()
    const { alice, bob } = await attachedPair(fixture)
    const port = new URL(fixture.url).port
    // The server's ends of the two relayed connections: source port = the server's, destination = each client's.
    const timers = [alice, bob].map(({ socket }) => execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} and dport = :${socket.localPort} )`]).toString())
    for (const line of timers) expect(line).toMatch(/timer:\(keepalive,/)
    alice.socket.destroy()
    bob.socket.destroy()
  })

  it('leaves no socket or timer behind once its relayed connections have ended', async () => {
    const fixture = await relayServer()
    const ids = await Promise.all([0, 1, 2, 3, 4].map(async () => await fixture.introduce(fixture.alice, fixture.bob)))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const before = { tcp: handles('TCPSocketWrap'), timers: handles('Timeout') }
    for (const [n, id] of ids.entries()) {
      const alice = await rawUpgrade(fixture.url, id, { token: fixture.alice.token })
      const bob = await rawUpgrade(fixture.url, id, { token: fixture.bob.token })
      bob.socket.resume()
      alice.socket.resume()
      // Ended three ways: in order, by a reset, by a destroy without a half-close first.
      if (n % 3 === 0) {
        alice.socket.end('x')
        bob.socket.end('y')
      } else if (n % 3 === 1) {
        alice.socket.resetAndDestroy()
      } else {
        // A full close looks like a half-close from here: alice answers the EOF with her own, as a socket that does not allow half-open would.
        alice.socket.once('end', () => { alice.socket.end() })
        bob.socket.destroy()
      }
      await Promise.all([alice.closed, bob.closed])
    }
    await waitFor(() => fixture.app.relays.counts().spliced === 0, 2000, 'every relay to end')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
    expect(fixture.app.relays.attachedBy('alice') + fixture.app.relays.attachedBy('bob')).toBe(0)
  })
})
