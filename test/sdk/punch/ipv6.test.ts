// A punch over both families on loopback, with real reuse-port sockets: each
// side has a punch port on IPv4 and one on IPv6, the introduction carries
// both sides' IPv6 endpoints, and the punch races the families. Where IPv4
// goes nowhere (as behind a NAT that cannot be punched) IPv6 wins, dialed
// from the IPv6 punch port.
import net from 'node:net'
import { randomBytes, randomUUID } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { Punch, type PunchedConnection } from '../../../sdk/punch/punch.js'
import type { PunchEvent } from '../../../sdk/trace.js'
import { FrameReader, FrameType, decodeHello } from '../../../sdk/punch/handshake.js'
import { defaultPortSockets } from '../../../sdk/socket/port-sockets.js'
import { DialBudget } from '../../../sdk/punch/dial-budget.js'
import { identityOf, peerKeyOf, type Identity } from '../../../sdk/identity/identity.js'
import type { Endpoint, Introduction } from '@punchline/protocol'

const hasIpv6Loopback = Object.values(networkInterfaces()).flat().some((address) => address?.address === '::1')
const sockets = defaultPortSockets()
/** Both sides on this host, their server on loopback too. */
const view = { subnets: [], serverOnLoopback: true }

interface Side {
  id: string
  identity: Identity
  /** The IPv4 and IPv6 punch ports. */
  port: number
  ipv6Port: number
  punch?: Punch
  events: PunchEvent[]
}

const servers: net.Server[] = []
const opened: net.Socket[] = []
afterEach(async () => {
  for (const socket of opened.splice(0)) socket.destroy()
  await Promise.all(servers.splice(0).map(async (server) => await new Promise((resolve) => server.close(resolve))))
})

/** A punch port on 127.0.0.1 and one on ::, both routing accepted connections to the side's punch by their HELLO. */
async function side (id: string): Promise<Side> {
  const me: Side = { id, identity: identityOf(), port: 0, ipv6Port: 0, events: [] }
  const route = (socket: net.Socket): void => {
    opened.push(socket)
    const reader = new FrameReader(socket)
    reader.expect(FrameType.HELLO).then((frame) => {
      const hello = decodeHello(frame)
      if (me.punch?.recognizes(hello) !== true) socket.destroy()
      else me.punch.adopt(socket, reader, hello)
    }, () => socket.destroy())
  }
  const ipv4 = await sockets.listen({ host: '127.0.0.1', port: 0 }, route)
  const ipv6 = await sockets.listen({ host: '::', port: 0 }, route)
  servers.push(ipv4, ipv6)
  me.port = (ipv4.address() as net.AddressInfo).port
  me.ipv6Port = (ipv6.address() as net.AddressInfo).port
  return me
}

/** A port nobody listens on: an IPv4 public endpoint that answers every SYN with a reset. */
async function deadPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

function introductions (a: Side, b: Side, publicOf: (s: Side) => Endpoint): [Introduction, Introduction] {
  const id = randomUUID()
  const secret = randomBytes(32).toString('base64url')
  const now = new Date().toISOString()
  const endpoints = (s: Side): Introduction['peer'] => ({
    id: s.id, publicEndpoint: publicOf(s), privateEndpoints: [], publicKey: s.identity.key, mapping: 'unknown', ipv6Endpoint: { address: '::1', port: s.ipv6Port }
  })
  return [
    { id, secret, role: 'initiator', self: endpoints(a), peer: endpoints(b), createdAt: now, expiresAt: now },
    { id, secret, role: 'target', self: endpoints(b), peer: endpoints(a), createdAt: now, expiresAt: now }
  ]
}

async function start (s: Side, introduction: Introduction, { ipv6 = true } = {}): Promise<PunchedConnection> {
  s.punch = new Punch({
    introduction, local: { host: '127.0.0.1', port: s.port }, localIpv6: ipv6 ? { host: '::', port: s.ipv6Port } : undefined, sockets, view,
    budget: new DialBudget(), timeoutMs: ipv6 ? 5000 : 1500, keepAliveMs: 0, identity: s.identity, peerKey: peerKeyOf(introduction.peer.publicKey!), encrypt: true, onEvent: (event) => s.events.push(event)
  })
  return await s.punch.run()
}

describe.skipIf(!hasIpv6Loopback)('a punch over IPv4 and IPv6', () => {
  it('dials both families at once, and connects over IPv6 from the IPv6 punch port when IPv4 goes nowhere', async () => {
    const alice = await side('alice')
    const bob = await side('bob')
    const dead = { alice: await deadPort(), bob: await deadPort() }
    const [forA, forB] = introductions(alice, bob, (s) => ({ address: '127.0.0.1', port: s === alice ? dead.alice : dead.bob }))
    const [a, b] = await Promise.all([start(alice, forA), start(bob, forB)])
    opened.push(a.socket, b.socket)
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
    const alice = await side('alice')
    const bob = await side('bob')
    const dead = { alice: await deadPort(), bob: await deadPort() }
    const [forA, forB] = introductions(alice, bob, (s) => ({ address: '127.0.0.1', port: s === alice ? dead.alice : dead.bob }))
    const results = await Promise.allSettled([start(alice, forA, { ipv6: false }), start(bob, forB, { ipv6: false })])
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    expect(alice.events.find((event) => event.type === 'introduced')).toMatchObject({ skipped: [`public [::1]:${bob.ipv6Port}: IPv6, and we have no IPv6 punch port`] })
    expect(alice.events.filter((event) => event.type === 'dial').every((event) => (event as { candidate: string }).candidate.startsWith('public 127.0.0.1:'))).toBe(true)
  })
})
