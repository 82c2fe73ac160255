// The IPv6 punch port of a Peer: P's number on :: where it is free, another
// port (said in an `ipv6-port` event) where something else holds P on IPv6,
// none when not asked for; and against a server reached by an IPv4 literal,
// nothing is sent over IPv6 (no observation, no event).
import net from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer } from '../../sdk/index.js'
import type { PeerEvent } from '../../sdk/trace.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'

const hasIpv6Loopback = Object.values(networkInterfaces()).flat().some((address) => address?.address === '::1')
const closing: Array<() => Promise<unknown>> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

async function server (): Promise<string> {
  const rendezvous = await RendezvousProcess.start()
  closing.push(async () => { await rendezvous.destroy() })
  return rendezvous.url
}

async function open (url: string, options: { localPort?: number, ipv6?: boolean }, events: PeerEvent[]): Promise<Peer> {
  const peer = await Peer.open({ server: url, localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event), ...options })
  closing.push(async () => { await peer.close() })
  return peer
}

describe.skipIf(!hasIpv6Loopback)('the IPv6 punch port', () => {
  it('is P\'s number on IPv6 where that is free, takes connections for the punches, and nothing is sent over IPv6 to an IPv4 server', async () => {
    const url = await server()
    const events: PeerEvent[] = []
    const peer = await open(url, { ipv6: true }, events)
    expect(peer.ipv6Port).toBe(peer.localPort)
    // Something listens there: a connection over IPv6 to P comes up (and, naming no punch, is dropped).
    const client = net.connect(peer.localPort, '::1')
    await new Promise<void>((resolve, reject) => { client.once('connect', resolve).once('error', reject) })
    client.destroy()
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(events.map((event) => event.type).filter((type) => type.startsWith('ipv6'))).toEqual([])
    expect(peer.ipv6Endpoint).toBeUndefined()
  })

  it('takes another port where P is held on IPv6, and says so', async () => {
    const url = await server()
    // P held on IPv6 only, without SO_REUSEPORT: the IPv4 punch port can have it, the IPv6 one cannot.
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen({ port: 0, host: '::', ipv6Only: true }, resolve))
    closing.push(async () => { await new Promise((resolve) => holder.close(resolve)) })
    const port = (holder.address() as net.AddressInfo).port
    const events: PeerEvent[] = []
    const peer = await open(url, { localPort: port, ipv6: true }, events)
    expect(peer.localPort).toBe(port)
    expect(peer.ipv6Port).toBeGreaterThan(0)
    expect(peer.ipv6Port).not.toBe(port)
    expect(events.find((event) => event.type === 'ipv6-port')).toEqual({
      type: 'ipv6-port', port: peer.ipv6Port, ipv4Port: port, message: expect.stringContaining(`port ${port} is taken on IPv6 (EADDRINUSE)`)
    })
  })

  it('is not bound when localAddress names one IPv4 address and ipv6 is not asked for', async () => {
    const url = await server()
    const peer = await open(url, {}, [])
    expect(peer.ipv6Port).toBeUndefined()
  })
})
