// What one allowed peer can make an exposed service hold: at most
// MAX_STREAMS_PER_PEER connections across all its tunnels (429 beyond), and
// at most MAX_TUNNELS_PER_PEER tunnels (a newer one closes the oldest),
// however many tunnels it punches. Attacked here with raw HTTP/2 sessions
// over punched connections, as a modified forwarder would.
import { generateKeyPairSync } from 'node:crypto'
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2'
import { createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { Exposure, Peer, type TraceEvent } from '../../../sdk/index.js'
import { MAX_STREAMS_PER_PEER, MAX_TUNNELS_PER_PEER, TUNNEL_AUTHORITY, TUNNEL_SETTINGS } from '../../../sdk/tunnel/tunnel.js'
import { RendezvousProcess } from '../../../lab/rendezvous-process.js'
import { waitFor } from '../../helpers.js'

const closing: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

describe('forwarding bounds, per peer', () => {
  it(`keeps one peer at ${MAX_STREAMS_PER_PEER} service connections and ${MAX_TUNNELS_PER_PEER} tunnels, however many tunnels it punches`, async () => {
    const rendezvous = await RendezvousProcess.start()
    closing.push(async () => { await rendezvous.destroy() })
    // A service that holds every connection open, and counts them.
    const held = new Set<Socket>()
    let most = 0
    const service: Server = createServer((socket) => {
      held.add(socket)
      most = Math.max(most, held.size)
      socket.on('error', () => {})
      socket.once('close', () => held.delete(socket))
    })
    service.listen(0, '127.0.0.1')
    await once(service, 'listening')
    closing.push(() => { for (const socket of held) socket.destroy(); service.close() })
    const options = { server: rendezvous.url, localAddress: '127.0.0.1', privateEndpoints: [] }
    const events: TraceEvent[] = []
    const exposure = await Exposure.open({ ...options, id: 'home', service: { host: '127.0.0.1', port: (service.address() as { port: number }).port }, allow: ['laptop'], onTrace: (event) => events.push(event) })
    closing.push(async () => { await exposure.close() })
    const sessions: ClientHttp2Session[] = []
    const statuses: number[] = []
    const laptopKey = generateKeyPairSync('ed25519').privateKey // the same attacker each time
    for (let tunnel = 0; tunnel < MAX_TUNNELS_PER_PEER + 2; tunnel++) {
      // Two punch ports carry one connection at a time: each tunnel comes from a new port, as "laptop"
      // again (it deregisters after punching and keeps the connection, which outlives its Peer).
      const laptop = await Peer.open({ ...options, id: 'laptop', identity: laptopKey })
      const { socket } = await laptop.connect('home')
      await laptop.close()
      const session = http2Connect(`http://${TUNNEL_AUTHORITY}`, { createConnection: () => socket, settings: TUNNEL_SETTINGS })
      session.on('error', () => {})
      sessions.push(session)
      closing.push(() => { session.destroy() })
      // Each tunnel asks for 200 streams (one tunnel may carry 256): two tunnels' worth is over the peer's bound.
      let answered = 0
      for (let n = 0; n < 200; n++) {
        const stream = session.request({ ':method': 'CONNECT', ':authority': TUNNEL_AUTHORITY })
        stream.on('error', () => {})
        stream.once('response', (headers) => {
          answered++
          statuses.push(Number(headers[':status']))
        })
      }
      await waitFor(() => answered === 200, 10_000, 'the answers to the streams')
    }
    const openTunnels = (): number => events.filter((event) => event.type === 'tunnel-up').length - events.filter((event) => event.type === 'tunnel-down').length
    await waitFor(() => openTunnels() <= MAX_TUNNELS_PER_PEER, 5000, 'the oldest tunnels to close')
    expect(most).toBeLessThanOrEqual(MAX_STREAMS_PER_PEER)
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0)
    expect(events.some((event) => event.type === 'stream-refused' && /streams of this peer are open/.test(event.reason))).toBe(true)
    expect(events.filter((event) => event.type === 'tunnel-up')).toHaveLength(MAX_TUNNELS_PER_PEER + 2)
    expect(openTunnels()).toBe(MAX_TUNNELS_PER_PEER)
  }, 60_000)
})
