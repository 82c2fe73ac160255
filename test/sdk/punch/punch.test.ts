// A punch on loopback with real reuse-port sockets: two punches
// (leader and follower) race their dials and accepts, authenticate, agree on
// one connection and release everything else.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Punch, type PunchedConnection } from '../../../sdk/punch/punch.js'
import type { PunchEvent } from '../../../sdk/trace.js'
import { DialBudget, REMOTE_SYN_BURST, REMOTE_SYNS_PER_SECOND } from '../../../sdk/punch/dial-budget.js'
import { FAST_PHASE_MS, MAX_DIALS_PER_CANDIDATE, SLOW_RETRY_GAP_MS } from '../../../sdk/punch/schedule.js'
import { deadPort, handles } from '../../helpers.js'
import { identityOf, peerKeyOf } from '../../../sdk/identity/identity.js'
import { closeAfterTest, introductions, side, sockets, view, type Side } from './sides.js'
import { TLSSocket } from 'node:tls'
import { publicKeyText } from '@punchline/protocol'
import type { Introduction } from '@punchline/protocol'

interface StartOptions {
  timeoutMs?: number
  signal?: AbortSignal
  encrypt?: boolean
  /** The key this side expects of its peer; the introduction's by default. */
  peerKey?: string
}

function start (s: Side, introduction: Introduction, { timeoutMs = 5000, signal, encrypt = true, peerKey = introduction.peer.publicKey! }: StartOptions = {}): Promise<PunchedConnection> {
  s.punch = new Punch({
    introduction, local: { host: '0.0.0.0', port: s.port }, sockets, view, budget: new DialBudget(), timeoutMs, keepAliveMs: 0,
    identity: s.identity, peerKey: peerKeyOf(peerKey), encrypt, signal, onEvent: (event) => s.events.push(event)
  })
  return s.punch.run()
}

function mirrored (a: net.Socket, b: net.Socket): boolean {
  return a.localPort === b.remotePort && a.remotePort === b.localPort
}

describe('Punch', () => {
  it('connects a leader and a follower over one connection both agree on, with a trace in order', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA, forB] = introductions(alice, bob)
    const [a, b] = await Promise.all([start(alice, forA), start(bob, forB)])
    for (const socket of [a.socket, b.socket]) closeAfterTest(socket)
    expect(alice.punch!.leader).toBe(true)
    expect(bob.punch!.leader).toBe(false)
    expect(mirrored(a.socket, b.socket)).toBe(true)
    expect(a.socket.localPort).toBe(alice.port)
    expect(a).toMatchObject({ peerId: 'bob', introductionId: forA.id, path: 'public', remote: { address: '127.0.0.1', port: bob.port } })
    expect(alice.punch!.phase).toBe('connected')

    for (const s of [alice, bob]) {
      const types = s.events.map((event) => event.type)
      expect(types[0]).toBe('introduced')
      expect(types.indexOf('authenticated')).toBeGreaterThan(0)
      expect(types.at(-1)).toBe('connected')
      expect(types.indexOf('authenticated')).toBeLessThan(types.indexOf('connected'))
    }
    b.socket.end('over to you')
    let text = ''
    for await (const chunk of a.socket) text += String(chunk)
    expect(text).toBe('over to you')
  })

  it('keeps exactly one of several authenticated connections, the same on both sides, and closes the rest', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // Counted after the listeners exist: on Node's net.BoundSocket a listener's handle is a TCPSocketWrap too.
    const baseline = handles('TCPSocketWrap')
    // Bob dials alice at 127.0.0.2, alice dials bob at 127.0.0.1: two address pairs, so two connections are likely.
    const [forA, forB] = introductions(alice, bob, { addressOfA: '127.0.0.2' })
    const [a, b] = await Promise.all([start(alice, forA), start(bob, forB)])
    for (const socket of [a.socket, b.socket]) closeAfterTest(socket)
    expect(mirrored(a.socket, b.socket)).toBe(true)
    expect(a.socket.remoteAddress).toBe(b.socket.localAddress)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(alice.events.filter((event) => event.type === 'authenticated').length).toBeGreaterThanOrEqual(1)
    expect(handles('TCPSocketWrap') - baseline).toBe(2) // only the winners are left
  })

  it('rejects a peer without the secret and times out with a typed error, leaving no sockets or timers', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA, forB] = introductions(alice, bob, { secretB: randomBytes(32).toString('base64url') })
    const timers = handles('Timeout')
    const tcp = handles('TCPSocketWrap')
    const results = await Promise.allSettled([start(alice, forA, { timeoutMs: 1500 }), start(bob, forB, { timeoutMs: 1500 })])
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT', retryable: true })
    }
    // Each side's listener drops the other's HELLO (its tag is not for this secret), so neither authenticates anything.
    expect(alice.events.some((event) => event.type === 'rejected')).toBe(true)
    for (const s of [alice, bob]) expect(s.events.filter((event) => event.type === 'authenticated')).toEqual([])
    expect(alice.events.at(-1)).toMatchObject({ type: 'failed', code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(handles('Timeout')).toBeLessThanOrEqual(timers)
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(tcp)
  })

  it('turns away a stranger at a candidate endpoint and does not dial it again', async () => {
    const stranger = net.createServer((socket) => {
      closeAfterTest(socket)
      socket.write('SSH-2.0-OpenSSH_9.2\r\n')
    })
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve))
    closeAfterTest(stranger)
    const alice = await side('alice')
    const fake = { id: 'bob', identity: identityOf(), port: (stranger.address() as net.AddressInfo).port, listener: stranger, events: [] }
    const [forA] = introductions(alice, fake)
    await expect(start(alice, forA, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
    expect(alice.events.filter((event) => event.type === 'dial')).toHaveLength(1)
    expect(alice.events.find((event) => event.type === 'rejected')).toMatchObject({ via: 'connect', reason: expect.stringMatching(/over 256/) })
  })

  it(`paces a refusing public endpoint: a burst of ${REMOTE_SYN_BURST}, then ${REMOTE_SYNS_PER_SECOND} a second, then one per ${SLOW_RETRY_GAP_MS} ms after ${FAST_PHASE_MS} ms`, async () => {
    // A peer that learns of the punch seconds late must still find us dialing; a third party at the endpoint gets no more than this.
    const alice = await side('alice')
    const [forA] = introductions(alice, { id: 'bob', identity: identityOf(), port: await deadPort(), listener: alice.listener, events: [] })
    const dialedAt: number[] = []
    const punch = new Punch({
      introduction: forA, local: { host: '0.0.0.0', port: alice.port }, sockets, view, budget: new DialBudget(), timeoutMs: 7000, keepAliveMs: 0,
      identity: alice.identity, peerKey: peerKeyOf(forA.peer.publicKey!), encrypt: true,
      onEvent: (event) => { if (event.type === 'dial') dialedAt.push(performance.now() - started) }
    })
    const started = performance.now()
    await expect(punch.run()).rejects.toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
    expect(dialedAt.length).toBeLessThanOrEqual(MAX_DIALS_PER_CANDIDATE.public)
    // The burst at the retry schedule's pace: a refusal on loopback comes back at once.
    expect(dialedAt[REMOTE_SYN_BURST - 1]!).toBeLessThan(3000)
    // Never more by any moment than the address's bucket allows (the burst, and its rate since the first dial) ...
    for (const [n, at] of dialedAt.entries()) expect(n + 1).toBeLessThanOrEqual(REMOTE_SYN_BURST + (at - dialedAt[0]!) * REMOTE_SYNS_PER_SECOND / 1000 + 1)
    // ... and dialing on past the burst all the same.
    expect(dialedAt.filter((at) => at < FAST_PHASE_MS).length).toBeGreaterThan(REMOTE_SYN_BURST + 50)
    // Then slowly, to the end of the punch.
    const slow = dialedAt.filter((at) => at >= FAST_PHASE_MS + 50)
    expect(slow.length).toBeGreaterThanOrEqual(10)
    for (const [n, at] of slow.slice(1).entries()) expect(at - slow[n]!).toBeGreaterThanOrEqual(SLOW_RETRY_GAP_MS - 1)
  }, 15_000)

  it('dials a silent endpoint again after the handshake times out: silence is no proof of a stranger', async () => {
    const silent = net.createServer((socket) => { closeAfterTest(socket) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    closeAfterTest(silent)
    const alice = await side('alice')
    const [forA] = introductions(alice, { id: 'bob', identity: identityOf(), port: (silent.address() as net.AddressInfo).port, listener: silent, events: [] })
    await expect(start(alice, forA, { timeoutMs: 2600 })).rejects.toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
    expect(alice.events.find((event) => event.type === 'rejected')).toMatchObject({ reason: 'handshake timed out' })
    expect(alice.events.filter((event) => event.type === 'dial').length).toBeGreaterThanOrEqual(2)
  })

  it('stops on abort with PUNCH_ERR_ABORTED', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA] = introductions(alice, bob)
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 50)
    // Bob never runs: alice's dials are refused (by bob's listener, which routes nothing) until the abort.
    await expect(start(alice, forA, { signal: controller.signal })).rejects.toMatchObject({ code: 'PUNCH_ERR_ABORTED' })
    expect(alice.punch!.phase).toBe('failed')
  })

  it('can be destroyed before it runs, and destroy() is idempotent', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const introduction = introductions(alice, bob)[0]
    const punch = new Punch({
      introduction, local: { host: '0.0.0.0', port: alice.port }, sockets, view, budget: new DialBudget(), timeoutMs: 1000, keepAliveMs: 0,
      identity: alice.identity, peerKey: peerKeyOf(bob.identity.key), encrypt: true
    })
    punch.destroy()
    punch.destroy()
    await expect(punch.run()).rejects.toMatchObject({ code: 'PUNCH_ERR_ABORTED' })
  })
})

describe('Punch: keys and encryption', () => {
  it('encrypts by default: TLS 1.3 with each side\'s identity key as its certificate', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA, forB] = introductions(alice, bob)
    const [a, b] = await Promise.all([start(alice, forA), start(bob, forB)])
    for (const socket of [a.socket, b.socket]) closeAfterTest(socket)
    for (const [connection, peer] of [[a, bob], [b, alice]] as const) {
      expect(connection).toMatchObject({ encrypted: true, peerKey: peer.identity.key })
      expect(connection.socket).toBeInstanceOf(TLSSocket)
      expect((connection.socket as TLSSocket).getProtocol()).toBe('TLSv1.3')
    }
    // alice leads, so she is the TLS server: bob's certificate is his identity key. (A TLS 1.3 client lets go of
    // the server's certificate once the handshake is over; secure() checked it then.)
    expect(publicKeyText((a.socket as TLSSocket).getPeerX509Certificate()!.publicKey)).toBe(bob.identity.key)
    expect(alice.events.at(-1)).toMatchObject({ type: 'connected', encrypted: true })
    b.socket.end('secret marker 7f3a')
    let text = ''
    for await (const chunk of a.socket) text += String(chunk)
    expect(text).toBe('secret marker 7f3a')
  })

  it.each([
    [false, false, false],
    [true, false, true],
    [false, true, true]
  ])('alice encrypt=%s, bob encrypt=%s: encrypted=%s (either side may ask)', async (aliceWants, bobWants, encrypted) => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA, forB] = introductions(alice, bob)
    const [a, b] = await Promise.all([start(alice, forA, { encrypt: aliceWants }), start(bob, forB, { encrypt: bobWants })])
    for (const socket of [a.socket, b.socket]) closeAfterTest(socket)
    expect([a.encrypted, b.encrypted]).toEqual([encrypted, encrypted])
    expect(a.socket instanceof TLSSocket).toBe(encrypted)
    a.socket.end('ping')
    let text = ''
    for await (const chunk of b.socket) text += String(chunk)
    expect(text).toBe('ping')
  })

  it('fails at once with PUNCH_ERR_PEER_KEY_MISMATCH when the peer holds the secret but not the expected key (a lying server), sending nothing but the handshake', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const [forA, forB] = introductions(alice, bob)
    const pinned = identityOf().key // what alice pinned for bob: not the key "bob" holds
    const started = performance.now()
    const results = await Promise.allSettled([start(alice, forA, { peerKey: pinned }), start(bob, forB)])
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'PUNCH_ERR_PEER_KEY_MISMATCH' } })
    expect(performance.now() - started).toBeLessThan(2000) // not the punch timeout
    expect(alice.events.map((event) => event.type)).not.toContain('connected')
    expect(alice.events.at(-1)).toMatchObject({ type: 'failed', code: 'PUNCH_ERR_PEER_KEY_MISMATCH' })
  })
})
