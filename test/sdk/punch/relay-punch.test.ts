// The relay inside a punch, on loopback, with a stand-in relay (a TCP server
// that splices its first two connections, as the server's relay does after
// both 101s): the relayed connection runs the same handshake as a punched
// one and races it on equal terms. The plan (./strategy.ts) is unit-tested
// at the end.
import net from 'node:net'
import { once } from 'node:events'
import { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { deadPort } from '../../helpers.js'
import type { Introduction, Mapping } from '@punchline/protocol'
import { Punch, type PunchedConnection, type RelayAttach } from '../../../sdk/punch/punch.js'
import type { PunchEvent } from '../../../sdk/trace.js'
import { DialBudget } from '../../../sdk/punch/dial-budget.js'
import { identityOf, peerKeyOf } from '../../../sdk/identity/identity.js'
import { closeAfterTest, introductions, side, sockets, view, type Side } from './sides.js'
import { RELAY_HEAD_START_MS, planFor } from '../../../sdk/punch/strategy.js'
import { PeerKeyMismatchError } from '../../../sdk/errors.js'

/** The stand-in relay: splices the first two connections; `attach` dials it. */
async function standInRelay (): Promise<{ attach: RelayAttach['attach'], attached: () => number }> {
  const waiting: net.Socket[] = []
  let attached = 0
  const server = net.createServer((socket) => {
    attached++
    socket.on('error', () => {})
    closeAfterTest(socket)
    const other = waiting.shift()
    if (other === undefined) waiting.push(socket)
    else {
      socket.pipe(other)
      other.pipe(socket)
    }
  }).listen(0, '127.0.0.1')
  closeAfterTest(server)
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  return {
    attached: () => attached,
    attach: async ({ signal }) => {
      const socket = net.connect({ host: '127.0.0.1', port })
      socket.on('error', () => {})
      // Like attachRelay: the signal aborts the attach until the socket is handed over, not after.
      const abort = (): void => { socket.destroy() }
      signal.addEventListener('abort', abort, { once: true })
      await once(socket, 'connect')
      signal.removeEventListener('abort', abort)
      return socket
    }
  }
}

interface StartOptions {
  relay?: RelayAttach
  punch?: boolean
  timeoutMs?: number
  peerKey?: string
}

async function start (s: Side, introduction: Introduction, { relay, punch = true, timeoutMs = 5000, peerKey = introduction.peer.publicKey! }: StartOptions): Promise<PunchedConnection> {
  s.punch = new Punch({
    introduction, local: { host: '0.0.0.0', port: s.port }, sockets, view, budget: new DialBudget(), timeoutMs, keepAliveMs: 0,
    identity: s.identity, peerKey: peerKeyOf(peerKey), encrypt: true, onEvent: (event) => s.events.push(event), punch, relay
  })
  const connection = await s.punch.run()
  closeAfterTest(connection.socket)
  return connection
}

async function exchange (a: PunchedConnection, b: PunchedConnection): Promise<[string, string]> {
  const read = async (socket: net.Socket): Promise<string> => {
    let text = ''
    for await (const chunk of socket) text += String(chunk)
    return text
  }
  a.socket.end('from a')
  b.socket.end('from b')
  return await Promise.all([read(b.socket), read(a.socket)])
}

describe('Punch with the relay', () => {
  it('relay only: no dials, the relayed connection authenticated and encrypted end to end', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const relay = await standInRelay()
    const [forA, forB] = introductions(alice, bob)
    const only = { afterMs: 0, reason: 'only' as const, attach: relay.attach }
    const [a, b] = await Promise.all([start(alice, forA, { relay: only, punch: false }), start(bob, forB, { relay: only, punch: false })])
    for (const [connection, peerId] of [[a, 'bob'], [b, 'alice']] as const) {
      expect(connection).toMatchObject({ peerId, via: 'relay', path: 'relay', encrypted: true, dials: 0 })
      expect(connection.socket).toBeInstanceOf(TLSSocket)
    }
    expect(a.remote.address).toBe('127.0.0.1')
    for (const s of [alice, bob]) {
      expect(s.events.map((event) => event.type)).toEqual(['introduced', 'relay-attaching', 'relay-attached', 'authenticated', 'connected'])
      expect(s.events[0]).toMatchObject({ candidates: [], relayInMs: 0 })
      expect(s.events.at(-1)).toMatchObject({ type: 'connected', via: 'relay', path: 'relay', encrypted: true })
    }
    expect(await exchange(a, b)).toEqual(['from a', 'from b'])
  })

  it('falls back to the relay after its head start when no dial gets through, and stops dialing', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const relay = await standInRelay()
    const nowhere = new Map([[alice, await deadPort()], [bob, await deadPort()]])
    const [forA, forB] = introductions(alice, bob, { endpointsOf: (s) => ({ publicEndpoint: { address: '127.0.0.1', port: nowhere.get(s)! } }) })
    const fallback = { afterMs: 300, reason: 'head-start' as const, attach: relay.attach }
    const [a, b] = await Promise.all([start(alice, forA, { relay: fallback }), start(bob, forB, { relay: fallback })])
    expect(a).toMatchObject({ via: 'relay', path: 'relay' })
    expect(b).toMatchObject({ via: 'relay', path: 'relay' })
    expect(a.elapsedMs).toBeGreaterThanOrEqual(300)
    expect(a.dials).toBeGreaterThan(1)
    const dialsAtWin = alice.events.filter((event) => event.type === 'dial').length
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(alice.events.filter((event) => event.type === 'dial').length).toBe(dialsAtWin) // no SYN after the relayed connection won
    expect(alice.events.find((event) => event.type === 'relay-attaching')).toMatchObject({ reason: 'head-start' })
    expect(await exchange(a, b)).toEqual(['from a', 'from b'])
  })

  it('keeps a direct connection that authenticates within the head start: the relay is never attached', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const relay = await standInRelay()
    const [forA, forB] = introductions(alice, bob)
    const fallback = { afterMs: 2000, reason: 'head-start' as const, attach: relay.attach }
    const [a, b] = await Promise.all([start(alice, forA, { relay: fallback }), start(bob, forB, { relay: fallback })])
    expect(a.path).toBe('public')
    expect(b.path).toBe('public')
    await new Promise((resolve) => setTimeout(resolve, 2200))
    expect(relay.attached()).toBe(0)
    expect(alice.events.map((event) => event.type)).not.toContain('relay-attaching')
  })

  it('rejects a peer that proves another key over the relay, as over a punched connection', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const relay = await standInRelay()
    const [forA, forB] = introductions(alice, bob)
    const only = { afterMs: 0, reason: 'only' as const, attach: relay.attach }
    const [a, b] = await Promise.allSettled([
      start(alice, forA, { relay: only, punch: false, timeoutMs: 3000 }),
      start(bob, forB, { relay: only, punch: false, timeoutMs: 3000, peerKey: identityOf().key })
    ])
    expect(b.status).toBe('rejected')
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf(PeerKeyMismatchError)
    expect(a.status).toBe('rejected')
    expect(bob.events.map((event) => event.type)).not.toContain('authenticated')
  })

  it('fails at once with the relay\'s failure when it does not punch, and with the punch\'s failure as the cause when it does', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const nowhere = new Map([[alice, await deadPort()], [bob, await deadPort()]])
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
    const failing = { afterMs: 0, reason: 'only' as const, attach: async () => { throw refused } }
    const [forA] = introductions(alice, bob, { endpointsOf: (s) => ({ publicEndpoint: { address: '127.0.0.1', port: nowhere.get(s)! } }) })
    const started = performance.now()
    await expect(start(alice, forA, { relay: failing, punch: false })).rejects.toBe(refused)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(alice.events.map((event) => event.type)).toEqual(['introduced', 'relay-attaching', 'relay-failed', 'failed'])

    const [forB] = introductions(bob, alice, { endpointsOf: (s) => ({ publicEndpoint: { address: '127.0.0.1', port: nowhere.get(s)! } }) })
    const error = await start(bob, forB, { relay: { ...failing, afterMs: 100, reason: 'head-start' }, timeoutMs: 800 }).catch((failure: unknown) => failure) as Error
    expect(error.message).toMatch(/no authenticated connection to alice within 800 ms; the relay failed too: refused/)
    expect(error.cause).toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
  })
})

describe('the plan of a punch', () => {
  const pair = (self: Mapping, peer: Mapping): Pick<Introduction, 'self' | 'peer'> => ({ self: { mapping: self }, peer: { mapping: peer } }) as Pick<Introduction, 'self' | 'peer'>

  it('auto punches (sprays where one side randomizes) and attaches after the head start; never only punches; only never dials', () => {
    expect(planFor(pair('independent', 'dependent'), 'auto')).toEqual({ strategy: 'spray', punch: true, relayAfterMs: RELAY_HEAD_START_MS, relayReason: 'head-start' })
    expect(planFor(pair('unknown', 'unknown'), 'auto')).toMatchObject({ punch: true, relayAfterMs: RELAY_HEAD_START_MS })
    expect(planFor(pair('dependent', 'dependent'), 'auto')).toEqual({ strategy: 'relay-now', punch: false, relayAfterMs: 0, relayReason: 'mappings' })
    // Without the relay, a pair judged unpunchable still races: a tunnel's upgrade attempts, after a NAT may have changed.
    expect(planFor(pair('dependent', 'dependent'), 'never')).toEqual({ strategy: 'race', punch: true, relayAfterMs: undefined, relayReason: undefined })
    expect(planFor(pair('independent', 'independent'), 'only')).toEqual({ strategy: 'race', punch: false, relayAfterMs: 0, relayReason: 'only' })
  })
})
