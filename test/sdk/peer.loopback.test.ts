// Two peers and the rendezvous server on loopback: the whole SDK path
// (register from P, poll, introduce pipelined behind the poll, punch,
// handshake, selection) without NATs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { once } from 'node:events'
import { Peer, type PeerEvent, type PunchedConnection } from '../../sdk/index.js'
import { buildTestApp, listenOnLoopback } from '../helpers.js'

describe('Peer on loopback', () => {
  let app: FastifyInstance
  let server: string
  const peers: Peer[] = []
  beforeEach(async () => {
    app = await buildTestApp()
    server = await listenOnLoopback(app)
  })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async (peer) => { await peer.close() }))
    await app.close()
  })

  async function open (id: string): Promise<Peer> {
    const peer = await Peer.open({ server, id, localAddress: '127.0.0.1', privateEndpoints: [] })
    peers.push(peer)
    return peer
  }

  it('registers from its punch port: the server observes P as the public endpoint', async () => {
    const alice = await open('alice')
    expect(alice.publicEndpoint).toEqual({ address: '127.0.0.1', port: alice.localPort })
  })

  it('connects two peers with an authenticated connection both sides agree on, and carries data both ways', async () => {
    const alice = await open('alice')
    const bob = await open('bob')
    const trace: PeerEvent[] = []
    alice.on('trace', (event: PeerEvent) => trace.push(event))
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    const [accepted] = await incoming

    expect(outgoing).toMatchObject({ peerId: 'bob', path: 'public' })
    expect(accepted).toMatchObject({ peerId: 'alice', introductionId: outgoing.introductionId })
    expect(outgoing.remote).toEqual({ address: '127.0.0.1', port: bob.localPort })
    expect(outgoing.socket.localPort).toBe(alice.localPort)
    expect(accepted.socket.localPort).toBe(bob.localPort)
    expect(outgoing.attempts).toBeGreaterThanOrEqual(1)

    outgoing.socket.end('hello bob')
    accepted.socket.end('hello alice')
    const read = async (socket: PunchedConnection['socket']): Promise<string> => {
      let text = ''
      for await (const chunk of socket) text += String(chunk)
      return text
    }
    expect(await read(accepted.socket)).toBe('hello bob')
    expect(await read(outgoing.socket)).toBe('hello alice')

    const types = trace.filter((event) => 'introductionId' in event).map((event) => event.type)
    expect(types[0]).toBe('introduced')
    expect(types).toContain('authenticated')
    expect(types.at(-1)).toBe('connected')
  })
})
