// A punch over both families on loopback, with real reuse-port sockets: each
// side has a punch port on IPv4 and one on IPv6, the introduction carries
// both sides' IPv6 endpoints, and the punch races the families. Where IPv4
// goes nowhere (as behind a NAT that cannot be punched) IPv6 wins, dialed
// from the IPv6 punch port.
import net from 'node:net'
import { networkInterfaces } from 'node:os'
import { describe, expect, it } from 'vitest'
import { Punch, type PunchedConnection } from '../../../sdk/punch/punch.js'
import type { PunchEvent } from '../../../sdk/trace.js'
import { DialBudget } from '../../../sdk/punch/dial-budget.js'
import { peerKeyOf } from '../../../sdk/identity/identity.js'
import { deadPort } from '../../helpers.js'
import { closeAfterTest, introductions, side, sockets, view, type Side } from './sides.js'
import type { Introduction } from '@punchline/protocol'

const hasIpv6Loopback = Object.values(networkInterfaces()).flat().some((address) => address?.address === '::1')

/**
 * Alice and bob with IPv4 and IPv6 punch ports, introduced with IPv4 public endpoints where nothing listens
 * (as behind NATs that cannot be punched) and their IPv6 punch ports on ::1.
 */
async function ipv4GoesNowhere (): Promise<{ alice: Side, bob: Side, dead: { bob: number }, forA: Introduction, forB: Introduction }> {
  const alice = await side('alice', { host: '127.0.0.1', ipv6: true })
  const bob = await side('bob', { host: '127.0.0.1', ipv6: true })
  const dead = new Map([[alice, await deadPort()], [bob, await deadPort()]])
  const [forA, forB] = introductions(alice, bob, { endpointsOf: (s) => ({ publicEndpoint: { address: '127.0.0.1', port: dead.get(s)! }, ipv6Endpoint: { address: '::1', port: s.ipv6Port! } }) })
  return { alice, bob, dead: { bob: dead.get(bob)! }, forA, forB }
}

async function start (s: Side, introduction: Introduction, { ipv6 = true } = {}): Promise<PunchedConnection> {
  s.punch = new Punch({
    introduction, local: { host: '127.0.0.1', port: s.port }, localIpv6: ipv6 ? { host: '::', port: s.ipv6Port! } : undefined, sockets, view,
    budget: new DialBudget(), timeoutMs: ipv6 ? 5000 : 1500, keepAliveMs: 0, identity: s.identity, peerKey: peerKeyOf(introduction.peer.publicKey!), encrypt: true, onEvent: (event) => s.events.push(event)
  })
  return await s.punch.run()
}

describe.skipIf(!hasIpv6Loopback)('a punch over IPv4 and IPv6', () => {
  it('dials both families at once, and connects over IPv6 from the IPv6 punch port when IPv4 goes nowhere', async () => {
    const { alice, bob, dead, forA, forB } = await ipv4GoesNowhere()
    const [a, b] = await Promise.all([start(alice, forA), start(bob, forB)])
    for (const socket of [a.socket, b.socket]) closeAfterTest(socket)
    expect(a.remote.address === '::1' || a.via === 'accept').toBe(true)
    for (const [connection, me, other] of [[a, alice, bob], [b, bob, alice]] as const) {
      expect(connection.path).toBe('public')
      const tcp = connection.socket as net.Socket & { _parent?: net.Socket }
      const raw = tcp._parent ?? tcp
      expect(raw.remoteAddress).toBe('::1')
      // Whichever side dialed, the connection runs between the two IPv6 punch ports.
      expect([raw.localPort, raw.remotePort].sort()).toEqual([me.ipv6Port, other.ipv6Port].sort())
    }
    // Both families were dialed from the first moment.
    const introduced = alice.events.find((event) => event.type === 'introduced')
    expect(introduced).toMatchObject({ candidates: [`public 127.0.0.1:${dead.bob}`, `public [::1]:${bob.ipv6Port}`] })
    const dialed = alice.events.filter((event) => event.type === 'dial').map((event) => (event as { candidate: string }).candidate)
    expect(dialed.slice(0, 2).sort()).toEqual([`public 127.0.0.1:${dead.bob}`, `public [::1]:${bob.ipv6Port}`].sort())
  })

  it('without an IPv6 punch port, dials no IPv6 candidate, says why, and fails where IPv4 goes nowhere', async () => {
    const { alice, bob, dead, forA, forB } = await ipv4GoesNowhere()
    const results = await Promise.allSettled([start(alice, forA, { ipv6: false }), start(bob, forB, { ipv6: false })])
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    expect(alice.events.find((event) => event.type === 'introduced')).toMatchObject({ skipped: [`public [::1]:${bob.ipv6Port}: IPv6, and we have no IPv6 punch port`] })
    expect(alice.events.filter((event) => event.type === 'dial').every((event) => (event as { candidate: string }).candidate.startsWith('public 127.0.0.1:'))).toBe(true)
  })
})
