// Every bound of the relay, attacked: relayed connections per peer and in
// total (429 PUNCH_ERR_RELAY_LIMITED with Retry-After), the rate per
// direction (slowed by backpressure, every byte intact), the idle timeout,
// the maximum lifetime and the wait of a lone side (both sides reset, each
// counted by reason). Times are checked against the bounds with generous
// margins: these are checks of the mechanism, not of speed.
import { performance } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { waitFor } from '../../helpers.js'
import { relayServer, sample, type RelayFixture } from './fixture.js'
import { payload, rawUpgrade, readAll, sha256, type RawAnswer } from './raw-upgrade.js'

const KiB = 1024

async function attach (fixture: RelayFixture, id: string, peer: { token: string }): Promise<RawAnswer> {
  return await rawUpgrade(fixture.url, id, { token: peer.token })
}

/** Resolves with the ms from now until the socket closes, and whether it was reset. */
async function closing (answer: RawAnswer): Promise<{ afterMs: number, reset: boolean }> {
  const started = performance.now()
  answer.socket.resume()
  await answer.closed
  return { afterMs: performance.now() - started, reset: answer.wasReset() }
}

describe('the relay\'s bounds', () => {
  it('refuses a peer over its relayed connections with 429 PUNCH_ERR_RELAY_LIMITED, and takes it again once one ends', async () => {
    const fixture = await relayServer({ relayMaxPerPeer: 2, relayPeerWaitSeconds: 7 })
    const { alice, bob, carol } = fixture
    const [first, second, third] = await Promise.all([0, 1, 2].map(async () => await fixture.introduce(alice, bob)))
    const one = await attach(fixture, first!, alice)
    const two = await attach(fixture, second!, alice)
    expect([one.status, two.status]).toEqual([101, 101])
    const over = await attach(fixture, third!, alice)
    expect(over.status).toBe(429)
    expect(JSON.parse(over.body)).toEqual({ statusCode: 429, code: 'PUNCH_ERR_RELAY_LIMITED', error: 'Too Many Requests', message: 'Too many relayed connections of peer "alice": at most 2 at once; retry in 7 s' })
    expect(over.headers['retry-after']).toBe('7')
    // The bound is alice's: bob, at none, joins her relays; carol starts her own.
    expect((await attach(fixture, first!, bob)).status).toBe(101)
    expect((await attach(fixture, await fixture.introduce(carol, bob), carol)).status).toBe(101)
    // One of alice's ends: she is under her bound again.
    one.socket.resetAndDestroy()
    await waitFor(() => fixture.app.relays.attachedBy('alice') === 1, 2000, 'alice\'s first relay to end')
    expect((await attach(fixture, third!, alice)).status).toBe(101)
    expect(sample(await fixture.metrics(), 'punchline_relay_refusals_total{code="PUNCH_ERR_RELAY_LIMITED"}')).toBe(1)
  })

  it('refuses a new relayed connection over the total with 429 PUNCH_ERR_RELAY_LIMITED, but lets the second side of one join', async () => {
    const fixture = await relayServer({ relayMaxTotal: 2 })
    const { alice, bob, carol } = fixture
    const aliceBob = await fixture.introduce(alice, bob)
    const aliceCarol = await fixture.introduce(alice, carol)
    expect((await attach(fixture, aliceBob, alice)).status).toBe(101)
    expect((await attach(fixture, aliceCarol, alice)).status).toBe(101)
    const over = await attach(fixture, await fixture.introduce(bob, carol), bob)
    expect(over.status).toBe(429)
    expect(JSON.parse(over.body)).toMatchObject({ code: 'PUNCH_ERR_RELAY_LIMITED', message: 'Too many relayed connections on this server: at most 2 at once; retry in 20 s' })
    expect(Number(over.headers['retry-after'])).toBe(20)
    // Joining a relayed connection that waits adds none.
    expect((await attach(fixture, aliceBob, bob)).status).toBe(101)
    expect(fixture.app.relays.counts()).toEqual({ waiting: 1, spliced: 1 })
    const metrics = await fixture.metrics()
    expect(sample(metrics, 'punchline_relayed_connections{phase="waiting"}')).toBe(1)
    expect(sample(metrics, 'punchline_relayed_connections{phase="spliced"}')).toBe(1)
    expect(sample(metrics, 'punchline_relay_refusals_total{code="PUNCH_ERR_RELAY_LIMITED"}')).toBe(1)
  })

  it('slows each direction to the rate, without losing or reordering a byte, and holds little meanwhile', async () => {
    const rate = 512 * KiB
    const fixture = await relayServer({ relayBytesPerSecond: rate })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await attach(fixture, id, fixture.alice)
    const bob = await attach(fixture, id, fixture.bob)
    const size = 2048 * KiB
    const up = payload(size)
    const down = payload(size)
    let mostBuffered = 0
    const watch = setInterval(() => { mostBuffered = Math.max(mostBuffered, fixture.app.relays.bufferedBytes()) }, 20)
    const timed = async (socket: RawAnswer['socket']): Promise<{ bytes: Buffer, ms: number }> => {
      const started = performance.now()
      const bytes = await readAll(socket)
      return { bytes, ms: performance.now() - started }
    }
    const [atBob, atAlice] = await Promise.all([timed(bob.socket), timed(alice.socket), alice.socket.end(up.bytes), bob.socket.end(down.bytes)])
    clearInterval(watch)
    expect(sha256(atBob.bytes)).toBe(up.sha256)
    expect(sha256(atAlice.bytes)).toBe(down.sha256)
    // The bucket starts full (a quarter second of the rate); the rest comes at the rate, each direction on its own.
    const fastest = (size - rate / 4) / rate * 1000
    for (const { ms } of [atBob, atAlice]) {
      expect(ms).toBeGreaterThan(0.8 * fastest)
      expect(ms).toBeLessThan(2.5 * fastest) // both directions at once: not one after the other
    }
    // The senders wrote 2 MiB at once: the relay held a few socket buffers of it, not the whole.
    expect(mostBuffered).toBeLessThan(512 * KiB)
  }, 30_000)

  it('resets both sides of a relayed connection idle for the idle timeout, and not one that keeps carrying bytes', async () => {
    const fixture = await relayServer({ relayIdleTimeoutSeconds: 1 })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await attach(fixture, id, fixture.alice)
    const bob = await attach(fixture, id, fixture.bob)
    bob.socket.resume()
    // A byte every 300 ms for 2.4 s: never idle for a second.
    for (let n = 0; n < 8; n++) {
      alice.socket.write('.')
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    expect(fixture.app.relays.counts().spliced).toBe(1)
    const [atAlice, atBob] = await Promise.all([closing(alice), closing(bob)])
    for (const side of [atAlice, atBob]) {
      expect(side.reset).toBe(true)
      expect(side.afterMs).toBeGreaterThan(500)
      expect(side.afterMs).toBeLessThan(3000)
    }
    expect(sample(await fixture.metrics(), 'punchline_relayed_connections_ended_total{reason="idle"}')).toBe(1)
  })

  it('resets both sides of a relayed connection at its maximum lifetime, busy as it is', async () => {
    const fixture = await relayServer({ relayMaxLifetimeSeconds: 2 })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await attach(fixture, id, fixture.alice)
    const bob = await attach(fixture, id, fixture.bob)
    const started = performance.now()
    const busy = setInterval(() => { if (!alice.socket.destroyed) alice.socket.write('busy') }, 50)
    const [atAlice, atBob] = await Promise.all([closing(alice), closing(bob)])
    clearInterval(busy)
    const lived = performance.now() - started
    expect(atAlice.reset && atBob.reset).toBe(true)
    expect(lived).toBeGreaterThan(1500)
    expect(lived).toBeLessThan(4500)
    expect(sample(await fixture.metrics(), 'punchline_relayed_connections_ended_total{reason="lifetime"}')).toBe(1)
  })

  it('disconnects a side left alone for the peer wait; the other peer, late, is told 410', async () => {
    const fixture = await relayServer({ relayPeerWaitSeconds: 1 })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const alice = await attach(fixture, id, fixture.alice)
    expect(fixture.app.relays.counts()).toEqual({ waiting: 1, spliced: 0 })
    const alone = await closing(alice)
    expect(alone.reset).toBe(true)
    expect(alone.afterMs).toBeGreaterThan(600)
    expect(alone.afterMs).toBeLessThan(3000)
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })
    const late = await attach(fixture, id, fixture.bob)
    expect(late.status).toBe(410)
    expect(JSON.parse(late.body)).toMatchObject({ code: 'PUNCH_ERR_RELAY_ENDED', message: expect.stringContaining('(unpaired)') })
    expect(sample(await fixture.metrics(), 'punchline_relayed_connections_ended_total{reason="unpaired"}')).toBe(1)
  })
})
