// connect() falling back to the server's relay, end to end on loopback: two
// Peers and a real `punchline serve`. Where punching must fail, the peers'
// dials to each other go nowhere (their PortSockets send every dial that is
// not to the server to a port where nothing listens), which is what two
// NATs that cannot be punched look like to the SDK.
import { once } from 'node:events'
import net from 'node:net'
import { TLSSocket } from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidOptionError, Peer, PunchTimeoutError, RelayRefusedError, defaultPortSockets, type PeerEvent, type PeerOptions, type PortSockets, type PunchedConnection } from '../../sdk/index.js'
import { RELAY_HEAD_START_MS } from '../../sdk/punch/strategy.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { deadPort, waitFor } from '../helpers.js'

const peers: Peer[] = []
const servers: RendezvousProcess[] = []
afterEach(async () => {
  await Promise.all(peers.splice(0).map(async (peer) => { await peer.close() }))
  await Promise.all(servers.splice(0).map(async (server) => { await server.destroy() }))
})

async function rendezvous (flags: string[] = []): Promise<RendezvousProcess> {
  const server = await RendezvousProcess.start({ flags })
  servers.push(server)
  return server
}

/** Punch-port sockets whose dials to anything but the server are refused: a pair that cannot punch. */
async function unpunchable (serverPort: number): Promise<PortSockets> {
  const real = defaultPortSockets()
  const nowhere = await deadPort()
  return { listen: real.listen, dial: (local, remote) => real.dial(local, remote.port === serverPort ? remote : { address: '127.0.0.1', port: nowhere }) }
}

async function open (server: RendezvousProcess, id: string, options: Partial<PeerOptions> = {}): Promise<{ peer: Peer, events: PeerEvent[] }> {
  const events: PeerEvent[] = []
  const peer = await Peer.open({ server: server.url, id, localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event), ...options })
  peers.push(peer)
  return { peer, events }
}

async function exchange (a: PunchedConnection, b: PunchedConnection): Promise<[string, string]> {
  const read = async (socket: net.Socket): Promise<string> => {
    let text = ''
    for await (const chunk of socket) text += String(chunk)
    return text
  }
  a.socket.end('hello bob')
  b.socket.end('hello alice')
  return await Promise.all([read(b.socket), read(a.socket)])
}

const types = (events: PeerEvent[]): string[] => events.map((event) => event.type)

describe('connect() and the relay', () => {
  it('relay: \'only\' connects through the relay at once, authenticated and encrypted, and both sides report it relayed', async () => {
    const server = await rendezvous()
    const alice = await open(server, 'alice', { relay: 'only' })
    const bob = await open(server, 'bob', { relay: 'only' })
    const incoming = once(bob.peer, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.peer.connect('bob')
    const [accepted] = await incoming
    expect(outgoing).toMatchObject({ peerId: 'bob', via: 'relay', path: 'relay', encrypted: true, dials: 0, remote: { address: '127.0.0.1', port: server.port } })
    expect(accepted).toMatchObject({ peerId: 'alice', via: 'relay', path: 'relay', introductionId: outgoing.introductionId })
    expect(outgoing.socket).toBeInstanceOf(TLSSocket)
    expect(outgoing.elapsedMs).toBeLessThan(RELAY_HEAD_START_MS)
    expect(await exchange(outgoing, accepted)).toEqual(['hello bob', 'hello alice'])
    for (const { events } of [alice, bob]) {
      expect(types(events)).not.toContain('dial')
      expect(events.find((event) => event.type === 'relay-attaching')).toMatchObject({ reason: 'only' })
      expect(events.find((event) => event.type === 'connected')).toMatchObject({ via: 'relay', path: 'relay' })
    }
    await waitFor(() => [alice, bob].every(({ events }) => types(events).includes('outcome-reported')), 5000, 'both outcome reports')
    const stats = await (await fetch(`${server.url}/v1/stats/punches`)).json()
    expect(stats).toMatchObject({ reports: 2, connected: 2, direct: 0, relayed: 2, byVia: { relay: 2 }, byPath: { relay: 2 } })
  })

  it('auto: both sides fall back to the same relay after the head start when no dial gets through', async () => {
    const server = await rendezvous()
    const sockets = await unpunchable(server.port)
    const alice = await open(server, 'alice', { sockets })
    const bob = await open(server, 'bob', { sockets })
    const incoming = once(bob.peer, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.peer.connect('bob')
    const [accepted] = await incoming
    expect(outgoing).toMatchObject({ via: 'relay', path: 'relay', encrypted: true })
    expect(accepted).toMatchObject({ via: 'relay', path: 'relay', introductionId: outgoing.introductionId })
    expect(outgoing.elapsedMs).toBeGreaterThanOrEqual(RELAY_HEAD_START_MS)
    expect(outgoing.elapsedMs).toBeLessThan(RELAY_HEAD_START_MS + 5000)
    expect(outgoing.dials).toBeGreaterThan(0) // it punched first
    for (const { events } of [alice, bob]) expect(events.find((event) => event.type === 'relay-attaching')).toMatchObject({ reason: 'head-start' })
    expect(await exchange(outgoing, accepted)).toEqual(['hello bob', 'hello alice'])
  })

  it('never: no relay on either side, a punch timeout as before', async () => {
    const server = await rendezvous()
    const sockets = await unpunchable(server.port)
    const alice = await open(server, 'alice', { sockets })
    const bob = await open(server, 'bob', { sockets, relay: 'never', punchTimeoutMs: RELAY_HEAD_START_MS + 1000 })
    const error = await alice.peer.connect('bob', { relay: 'never', timeout: RELAY_HEAD_START_MS + 1000 }).catch((failure: unknown) => failure)
    expect(error).toBeInstanceOf(PunchTimeoutError)
    await waitFor(() => types(bob.events).includes('failed'), 5000, 'bob\'s punch to fail')
    for (const { events } of [alice, bob]) expect(types(events).filter((type) => type.startsWith('relay-'))).toEqual([])
  })

  it('a server that does not relay: connect() fails with its RelayRefusedError, the punch\'s timeout as the cause and in the statistics', async () => {
    const server = await rendezvous(['--relay', 'off'])
    const sockets = await unpunchable(server.port)
    const alice = await open(server, 'alice', { sockets })
    await open(server, 'bob', { sockets })
    const error = await alice.peer.connect('bob', { timeout: RELAY_HEAD_START_MS * 2 }).catch((failure: unknown) => failure) as RelayRefusedError
    expect(error).toBeInstanceOf(RelayRefusedError)
    expect(error).toMatchObject({ code: 'PUNCH_ERR_RELAY_REFUSED', status: 403, serverCode: 'PUNCH_ERR_RELAY_DISABLED' })
    expect(error.cause).toBeInstanceOf(PunchTimeoutError)
    expect(error.message).toMatch(/^no authenticated connection to bob within \d+ ms; the relay failed too: /)
    expect(alice.events.find((event) => event.type === 'relay-failed')).toMatchObject({ code: 'PUNCH_ERR_RELAY_REFUSED', serverCode: 'PUNCH_ERR_RELAY_DISABLED' })
    await waitFor(() => types(alice.events).includes('outcome-reported'), 5000, 'the outcome report')
    const stats = await (await fetch(`${server.url}/v1/stats/punches`)).json()
    expect(stats).toMatchObject({ failures: { PUNCH_ERR_PUNCH_TIMEOUT: 1 } })
  })

  it('refuses a relay mode it does not know, on open() and on connect()', async () => {
    const server = await rendezvous()
    await expect(Peer.open({ server: server.url, relay: 'sometimes' as 'auto' })).rejects.toThrow(InvalidOptionError)
    const alice = await open(server, 'alice')
    await expect(alice.peer.connect('bob', { relay: 'always' as 'auto' })).rejects.toThrow(/relay must be one of 'auto', 'never', 'only', got "always"/)
  })
})
