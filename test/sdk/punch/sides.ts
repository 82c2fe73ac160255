// The two sides of a punch on loopback, for the punch tests: each side a
// punch port (real reuse-port sockets; IPv6 too when asked) that routes the
// connections it accepts to the side's punch by their HELLO, and
// introductions of two sides to each other. Everything a test opens here,
// or hands to closeAfterTest, is closed after it.
import net from 'node:net'
import { randomBytes, randomUUID } from 'node:crypto'
import { afterEach } from 'vitest'
import type { Introduction } from '@punchline/protocol'
import type { Punch } from '../../../sdk/punch/punch.js'
import type { PunchEvent } from '../../../sdk/trace.js'
import { FrameReader, FrameType, decodeHello } from '../../../sdk/punch/handshake.js'
import { defaultPortSockets } from '../../../sdk/socket/port-sockets.js'
import { identityOf, type Identity } from '../../../sdk/identity/identity.js'

export const sockets = defaultPortSockets()
/** Both sides on this host, their server on loopback too. */
export const view = { subnets: [], serverOnLoopback: true }

export interface Side {
  id: string
  identity: Identity
  /** The punch port (IPv4), and the IPv6 one when the side has it. */
  port: number
  ipv6Port?: number
  listener: net.Server
  punch?: Punch
  events: PunchEvent[]
}

const closers: Array<() => unknown> = []
afterEach(async () => { await Promise.all(closers.splice(0).map(async (close) => { await close() })) })

/** Closes (destroys) it after the test. */
export function closeAfterTest (thing: net.Socket | net.Server): void {
  closers.push(thing instanceof net.Server ? async () => { await new Promise((resolve) => thing.close(resolve)) } : () => { thing.destroy() })
}

/** A side with a punch port on `host` (0.0.0.0 by default), and one on :: when `ipv6`. */
export async function side (id: string, { host = '0.0.0.0', ipv6 = false }: { host?: string, ipv6?: boolean } = {}): Promise<Side> {
  const me: Side = { id, identity: identityOf(), port: 0, listener: undefined as unknown as net.Server, events: [] }
  const route = (socket: net.Socket): void => {
    closeAfterTest(socket)
    const reader = new FrameReader(socket)
    reader.expect(FrameType.HELLO).then((frame) => {
      const hello = decodeHello(frame)
      if (me.punch?.recognizes(hello) !== true) socket.destroy()
      else me.punch.adopt(socket, reader, hello)
    }, () => socket.destroy())
  }
  me.listener = await sockets.listen({ host, port: 0 }, route)
  closeAfterTest(me.listener)
  me.port = (me.listener.address() as net.AddressInfo).port
  if (ipv6) {
    const listener = await sockets.listen({ host: '::', port: 0 }, route)
    closeAfterTest(listener)
    me.ipv6Port = (listener.address() as net.AddressInfo).port
  }
  return me
}

export interface IntroductionOptions {
  /** What the introductions say of a side besides its defaults (its public endpoint at 127.0.0.1 and its punch port, no private ones, its key). */
  endpointsOf?: (s: Side) => Partial<Introduction['peer']>
  /** B's secret, when it is not the one A got. */
  secretB?: string
  /** Where B is told A is (the server saw A there), when not 127.0.0.1. */
  addressOfA?: string
}

/** One introduction of a to b: A's copy (initiator) and B's (target). */
export function introductions (a: Side, b: Side, { endpointsOf, secretB, addressOfA }: IntroductionOptions = {}): [Introduction, Introduction] {
  const id = randomUUID()
  const secret = randomBytes(32).toString('base64url')
  const now = new Date().toISOString()
  const endpoints = (s: Side, address = '127.0.0.1'): Introduction['peer'] => ({
    id: s.id, publicEndpoint: { address, port: s.port }, privateEndpoints: [], publicKey: s.identity.key, mapping: 'unknown', ...endpointsOf?.(s)
  })
  return [
    { id, secret, role: 'initiator', self: endpoints(a), peer: endpoints(b), createdAt: now, expiresAt: now },
    { id, secret: secretB ?? secret, role: 'target', self: endpoints(b), peer: endpoints(a, addressOfA), createdAt: now, expiresAt: now }
  ]
}
