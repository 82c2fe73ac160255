// Two peers and the rendezvous server on loopback: the whole SDK path
// (register from P, poll, introduce pipelined behind the poll, punch,
// handshake, selection) without NATs.
import { generateKeyPairSync } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { once } from 'node:events'
import { Peer, type PeerEvent, type PunchedConnection } from '../../sdk/index.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { handles, waitFor } from '../helpers.js'
import { RECONNECT_BASE_MS, RECONNECT_MAX_MS } from '../../sdk/registration-session.js'

describe('Peer on loopback', () => {
  let rendezvous: RendezvousProcess
  let server: string
  const peers: Peer[] = []
  beforeEach(async () => {
    rendezvous = await RendezvousProcess.start()
    server = rendezvous.url
  })
  afterEach(async () => {
    await Promise.all(peers.splice(0).map(async (peer) => { await peer.close() }))
    await rendezvous.destroy()
  })

  async function open (id: string, options: { reportOutcomes?: boolean } = {}): Promise<Peer> {
    const peer = await Peer.open({ server, id, localAddress: '127.0.0.1', privateEndpoints: [], ...options })
    peers.push(peer)
    return peer
  }

  it('reports each side\'s punch outcome to the server by default, and not when told not to', async () => {
    const alice = await open('alice')
    const bob = await open('bob', { reportOutcomes: false })
    const reports: PeerEvent[] = []
    alice.on('trace', (event: PeerEvent) => { if (event.type.startsWith('outcome')) reports.push(event) })
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const connection = await alice.connect('bob')
    await incoming
    await waitFor(() => reports.length > 0, 5000, 'the outcome report')
    expect(reports).toEqual([{ type: 'outcome-reported', introductionId: connection.introductionId, outcome: 'connected' }])
    const stats = await (await fetch(`${server}/v1/stats/punches`)).json() as { elapsedMs: { median: number } }
    // alice's report only: bob was told not to report.
    expect(stats).toMatchObject({ reports: 1, connected: 1, byVia: { [connection.via]: 1 }, byPath: { public: 1 }, dialsMedian: connection.dials })
    expect(Math.abs(stats.elapsedMs.median - connection.elapsedMs)).toBeLessThanOrEqual(connection.elapsedMs / 32 + 1) // a histogram's precision
  })

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
    expect(outgoing.dials).toBeGreaterThanOrEqual(1)
    expect(outgoing.attempts).toBe(outgoing.dials) // the deprecated name

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

describe('Peer on loopback: failures and lifecycle', () => {
  let rendezvous: RendezvousProcess
  let server: string
  beforeEach(async () => {
    rendezvous = await RendezvousProcess.start()
    server = rendezvous.url
  })
  afterEach(async () => { await rendezvous.destroy() })

  it('fails connect() to an unknown peer with PUNCH_ERR_PEER_UNKNOWN', async () => {
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    try {
      await expect(alice.connect('nobody')).rejects.toMatchObject({ code: 'PUNCH_ERR_PEER_UNKNOWN' })
    } finally {
      await alice.close()
    }
  })

  it('fails open() with PUNCH_ERR_SERVER_UNREACHABLE when nothing listens, and validates options first', async () => {
    await rendezvous.stop()
    await expect(Peer.open({ server, localAddress: '127.0.0.1', privateEndpoints: [] })).rejects.toMatchObject({ code: 'PUNCH_ERR_SERVER_UNREACHABLE' })
    await expect(Peer.open({ server: 'ftp://x', privateEndpoints: [] })).rejects.toMatchObject({ code: 'PUNCH_ERR_INVALID_OPTION', message: expect.stringContaining('http:// URL') })
    await expect(Peer.open({ server, localPort: 70000 })).rejects.toThrow('localPort must be an integer from 0 to 65535, got 70000')
  })

  it('delivers incoming connections through the async iterator, and ends it on close()', async () => {
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [] })
    const iterator = bob.connections()
    const [outgoing, incoming] = await Promise.all([alice.connect('bob'), iterator.next()])
    expect(incoming.value).toMatchObject({ peerId: 'alice', introductionId: outgoing.introductionId })
    outgoing.socket.destroy()
    ;(incoming.value as PunchedConnection).socket.destroy()
    const ended = iterator.next()
    await bob.close()
    expect(await ended).toEqual({ done: true, value: undefined })
    await alice.close()
  })

  it('re-registers with the same id when the server restarts on a fresh database, and keeps receiving introductions', async () => {
    const registered: PeerEvent[] = []
    const bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1, onTrace: (event) => { if (event.type === 'registered') registered.push(event) } })
    expect(registered).toHaveLength(1) // onTrace saw the first registration, inside open()
    await rendezvous.restart({ freshDatabase: true }) // the server has forgotten bob
    await waitFor(() => registered.length > 1, 15_000, 'bob to register again')
    expect(registered[1]).toMatchObject({ id: 'bob', publicEndpoint: { address: '127.0.0.1', port: bob.localPort } })

    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    expect((await incoming)[0].introductionId).toBe(outgoing.introductionId)
    outgoing.socket.destroy()
    ;(await incoming)[0].socket.destroy()
    await Promise.all([alice.close(), bob.close()])
  })

  it('releases every socket, listener and timer on close(), deregisters, and leaves no unhandled rejection', async () => {
    const rejections: unknown[] = []
    const onRejection = (reason: unknown): void => { rejections.push(reason) }
    process.on('unhandledRejection', onRejection)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const before = { tcp: handles('TCPSocketWrap'), servers: handles('TCPServerWrap'), timers: handles('Timeout') }
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [] })
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    outgoing.socket.destroy()
    ;(await incoming)[0].socket.destroy()
    // An attempt still punching when the peer closes: it ends with PUNCH_ERR_PEER_CLOSED.
    const carol = await Peer.open({ server, id: 'carol', localAddress: '127.0.0.1', privateEndpoints: [] })
    await carol.close({ deregister: false }) // registered, but nobody answers its port
    const pending = alice.connect('carol', { timeout: 10_000 }).catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 100))
    await Promise.all([alice.close(), bob.close()])
    expect(await pending).toMatchObject({ code: 'PUNCH_ERR_PEER_CLOSED' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('TCPServerWrap')).toBe(before.servers)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
    process.off('unhandledRejection', onRejection)
    expect(rejections).toEqual([])
  })

  it('connects the same two peers again right after a clean close (one side\'s address pair is in TIME_WAIT)', async () => {
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [] })
    try {
      for (let round = 0; round < 3; round++) {
        const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
        const outgoing = await alice.connect('bob', { timeout: 5000 })
        const [accepted] = await incoming
        const outgoingClosed = once(outgoing.socket.resume(), 'close') // may close while accepted is read
        outgoing.socket.end(`round ${round}`)
        accepted.socket.end()
        let text = ''
        for await (const chunk of accepted.socket) text += String(chunk)
        expect(text).toBe(`round ${round}`)
        await outgoingClosed
      }
    } finally {
      await Promise.all([alice.close(), bob.close()])
    }
  })

  it('backs off with jitter while the server is gone, then reconnects from the same port and keeps receiving introductions', async () => {
    const bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1 })
    const unreachable: number[] = []
    bob.on('trace', (event: PeerEvent) => { if (event.type === 'server-unreachable') unreachable.push(event.retryInMs) })
    await rendezvous.stop() // the server vanishes
    await waitFor(() => unreachable.length >= 4, 15_000, 'bob to notice and retry')
    // Full jitter under a growing bound: never above the bound, and not one fixed delay.
    unreachable.slice(0, 4).forEach((delay, attempt) => { expect(delay).toBeLessThanOrEqual(Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (attempt + 1))) })
    expect(new Set(unreachable).size).toBeGreaterThan(1)

    await rendezvous.restart() // back, same port and database: bob is still registered
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob', { timeout: 15_000 })
    const [accepted] = await incoming
    expect(accepted.introductionId).toBe(outgoing.introductionId)
    expect(accepted.socket.localPort).toBe(bob.localPort)
    expect(outgoing.remote).toEqual({ address: '127.0.0.1', port: bob.localPort }) // the server sees bob's port P again
    outgoing.socket.destroy()
    accepted.socket.destroy()
    await Promise.all([alice.close(), bob.close()])
  }, 40_000)

  it('deregisters on close(): the registration ends at once, the id stays its key\'s', async () => {
    const identity = generateKeyPairSync('ed25519').privateKey
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [], identity })
    await alice.close()
    expect(await rendezvous.metric('punchline_registrations_live')).toBe(0)
    // Someone else cannot have the id (it is reserved for alice's key) ...
    const stranger = await fetch(`${server}/v1/peers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'alice', privateEndpoints: [] }) })
    expect(stranger.status).toBe(409)
    expect((await stranger.json() as { code: string }).code).toBe('PUNCH_ERR_PEER_ID_RESERVED')
    // ... alice, restarted with her key, can.
    const again = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [], identity })
    expect(again.id).toBe('alice')
    await again.close()
  })
})

