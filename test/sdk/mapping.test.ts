// The SDK's mapping probe: against the real server on loopback (no NAT, so
// the probe from the punch port shows the same port: independent), and
// against server doubles whose mapping port is missing, silent or broken —
// none of which may hold up registering, polling or closing, and a connect()
// waits for a probe under way only so long.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { Introduction } from '@punchline/protocol'
import { Peer, defaultPortSockets, identityOf, type PeerEvent, type PunchedConnection } from '../../sdk/index.js'
import { RendezvousClient } from '../../sdk/rendezvous.js'
import { MAPPING_WAIT_BEFORE_INTRODUCING_MS, RegistrationSession } from '../../sdk/registration-session.js'
import { MAPPING_PROBE_TIMEOUT_MS } from '../../sdk/mapping-probe.js'
import type { SessionEvent } from '../../sdk/trace.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { handles, waitFor } from '../helpers.js'
import { emptyInbox, json, registrationOf, rendezvousDouble, type RequestBody } from './rendezvous-double.js'

const closing: Array<() => Promise<unknown>> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

async function open (server: string, id: string, events: PeerEvent[] = []): Promise<Peer> {
  const peer = await Peer.open({ server, id, localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event) })
  closing.push(async () => { await peer.close() })
  return peer
}

describe('the mapping probe, against the server on loopback', () => {
  it('probes from the punch port after registering, and an immediate connect() carries it: both reports count under independent+independent', async () => {
    const rendezvous = await RendezvousProcess.start()
    closing.push(async () => { await rendezvous.destroy() })
    const bobEvents: PeerEvent[] = []
    const bob = await open(rendezvous.url, 'bob', bobEvents)
    await waitFor(() => bob.mapping !== 'unknown', 5000, 'bob\'s probe')
    expect(bobEvents.find((event) => event.type === 'mapping')).toEqual({
      type: 'mapping',
      mapping: 'independent',
      publicEndpoint: { address: '127.0.0.1', port: bob.localPort },
      probeEndpoint: { address: '127.0.0.1', port: bob.localPort },
      elapsedMs: expect.any(Number)
    })
    expect(bobEvents.map((event) => event.type).slice(0, 2)).toEqual(['registered', 'mapping'])

    // alice connects the moment open() returns: the introduction waits for her probe.
    const aliceEvents: PeerEvent[] = []
    const alice = await open(rendezvous.url, 'alice', aliceEvents)
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const connection = await alice.connect('bob')
    await incoming
    expect(alice.mapping).toBe('independent')
    const types = aliceEvents.map((event) => event.type)
    expect(types.indexOf('mapping')).toBeLessThan(types.indexOf('introduced'))
    connection.socket.destroy()
    await waitFor(async () => ((await (await fetch(`${rendezvous.url}/v1/stats/punches`)).json()) as { reports: number }).reports === 2, 5000, 'both reports')
    const stats = await (await fetch(`${rendezvous.url}/v1/stats/punches`)).json() as { byMappings: unknown }
    expect(stats.byMappings).toEqual({ 'independent+independent': { reports: 2, connected: 2, failed: 0 } })
  })

  it('hands over introductions that carry both peers\' mappings, on both sides alike', async () => {
    const rendezvous = await RendezvousProcess.start()
    closing.push(async () => { await rendezvous.destroy() })
    const sockets = defaultPortSockets()
    // A session from a port of its own (held by a listener, as a Peer holds P), and one that dials from any port:
    // its probe leaves from another port than its registration did, as behind a NAT that maps each connection anew.
    const listener = await sockets.listen({ host: '127.0.0.1', port: 0 }, (socket) => { socket.destroy() })
    closing.push(async () => { listener.close() })
    const port = (listener.address() as AddressInfo).port
    const session = (id: string, localPort: number, received: Introduction[], events: SessionEvent[]): RegistrationSession => {
      const started = new RegistrationSession({
        client: new RendezvousClient({ server: rendezvous.url, local: { host: '127.0.0.1', port: localPort }, sockets, keepAliveMs: 0 }),
        identity: identityOf(),
        id,
        privateEndpoints: [],
        pollWaitSeconds: 1,
        localPort,
        onIntroduction: (introduction) => received.push(introduction),
        onEvent: (event) => events.push(event)
      })
      closing.push(async () => { await started.stop({ deregister: true }) })
      return started
    }
    const toTarget: Introduction[] = []
    const targetEvents: SessionEvent[] = []
    const target = session('target', 0, toTarget, targetEvents)
    await target.start()
    await waitFor(() => target.mapping !== 'unknown', 5000, 'the target\'s probe')
    expect(target.mapping).toBe('dependent')
    expect(targetEvents.find((event) => event.type === 'mapping')).toMatchObject({ mapping: 'dependent', publicEndpoint: { port: expect.any(Number) } })

    const initiator = session('initiator', port, [], [])
    await initiator.start()
    const made = await initiator.introduce('target')
    expect(made).toMatchObject({ self: { id: 'initiator', mapping: 'independent' }, peer: { id: 'target', mapping: 'dependent' } })
    await waitFor(() => toTarget.length === 1, 5000, 'the introduction to reach the target')
    expect(toTarget[0]).toMatchObject({ id: made.id, self: { id: 'target', mapping: 'dependent' }, peer: { id: 'initiator', mapping: 'independent' } })
  })

  it('probes again when the server forgot it (restarted on a fresh database), and not when it still knows', async () => {
    // Any free mapping port, not the default --port + 1: while the server restarts, that port may be
    // held by another test's outgoing connection (or its TIME_WAIT), and the new server then runs without one.
    const rendezvous = await RendezvousProcess.start({ flags: ['--mapping-port', '0'] })
    closing.push(async () => { await rendezvous.destroy() })
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: rendezvous.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 1, onTrace: (event) => events.push(event) })
    closing.push(async () => { await bob.close() })
    await waitFor(() => events.some((event) => event.type === 'mapping'), 5000, 'the first probe')
    const count = (type: string): number => events.filter((event) => event.type === type).length

    // Back on the same database: a new connection, whose registration still says independent.
    await rendezvous.restart()
    await waitFor(async () => await rendezvous.metric('punchline_polls_held') === 1, 20_000, 'bob to poll again')
    await new Promise((resolve) => setTimeout(resolve, 2500)) // a poll answered on the new connection, and the registration read
    expect(count('mapping')).toBe(1)
    expect(count('mapping-unknown')).toBe(0)
    expect(bob.mapping).toBe('independent')

    // On a fresh database: registered again, unknown, probed again (at the mapping port the new server offers).
    await rendezvous.restart({ freshDatabase: true })
    await waitFor(() => count('registered') === 2 && count('mapping') === 2, 20_000, 'the registration and probe on the new server')
      .catch((error: Error) => { throw new Error(`${error.message}; bob's events: ${JSON.stringify(events)}`) }) // which step was missed
    expect(events.filter((event) => event.type === 'mapping').at(-1)).toMatchObject({ mapping: 'independent', probeEndpoint: { port: bob.localPort } })
  }, 60_000)
})

/** Where the double's mapping probes go, and what happens to them there. */
type MappingPortDouble = 'absent' | 'silent' | 'broken' | 'refusing'

/** The rendezvous double, answering polls empty after a while, refusing introductions (404), offering a mapping port as told. */
async function serverDouble (mappingPort: MappingPortDouble): Promise<{ url: string, probes: () => number }> {
  let probes = 0
  let offered: number | undefined
  if (mappingPort !== 'absent') {
    const silent = createTcpServer((socket: Socket) => { probes++; socket.on('error', () => {}); if (mappingPort === 'refusing') socket.resetAndDestroy() })
    const broken = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
      probes++
      request.resume()
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"mapping":"independent","publicEndpoint":"everywhere"}')
    })
    const probeServer: Server = mappingPort === 'broken' ? broken : silent
    probeServer.listen(0, '127.0.0.1')
    await once(probeServer, 'listening')
    offered = (probeServer.address() as AddressInfo).port
    closing.push(async () => { (probeServer as Server & { closeAllConnections?: () => void }).closeAllConnections?.(); probeServer.close() })
  }
  const api = await rendezvousDouble({
    // Empty after a while, as a long poll.
    poll: (response) => { setTimeout(() => { if (!response.destroyed) emptyInbox(response, 0) }, 500) },
    introduce: (response) => { json(response, 404, { statusCode: 404, code: 'PUNCH_ERR_PEER_NOT_FOUND', error: 'Not Found', message: 'No live registration for peer "carol"' }) },
    ...(offered !== undefined ? { mappingProbePort: offered } : {})
  })
  closing.push(api.close)
  return { url: api.url, probes: () => probes }
}

describe('the mapping probe, against servers whose mapping port is missing or misbehaves', () => {
  it('says so when the server offers no mapping port, and probes nothing', async () => {
    const server = await serverDouble('absent')
    const events: PeerEvent[] = []
    const bob = await open(server.url, 'bob', events)
    expect(events.find((event) => event.type === 'mapping-unknown')).toMatchObject({ reason: 'not-offered', message: expect.stringContaining('has no mapping port') })
    expect(bob.mapping).toBe('unknown')
  })

  it.each(['broken', 'refusing'] as const)('leaves the mapping unknown when the mapping port is %s, and goes on polling', async (behaviour) => {
    const server = await serverDouble(behaviour)
    const events: PeerEvent[] = []
    const bob = await open(server.url, 'bob', events)
    await waitFor(() => events.some((event) => event.type === 'mapping-unknown'), 5000, 'the failed probe')
    expect(events.find((event) => event.type === 'mapping-unknown')).toMatchObject({
      reason: 'probe-failed',
      message: behaviour === 'broken' ? expect.stringContaining('not a mapping observation of the protocol') : expect.stringContaining('unreachable')
    })
    expect(bob.mapping).toBe('unknown')
    expect(server.probes()).toBe(1) // no retries
  })

  it('gives up on a silent mapping port after its timeout, without holding up open() or close(), and a connect() waits for it only so long', async () => {
    const server = await serverDouble('silent')
    const events: PeerEvent[] = []
    const started = performance.now()
    const bob = await open(server.url, 'bob', events)
    expect(performance.now() - started).toBeLessThan(MAPPING_PROBE_TIMEOUT_MS / 2)
    await waitFor(() => server.probes() === 1, 2000, 'the probe to arrive')

    const asked = performance.now()
    const refused = await bob.connect('carol').catch((error: unknown) => error)
    const waited = performance.now() - asked
    expect(refused).toMatchObject({ code: 'PUNCH_ERR_PEER_UNKNOWN' })
    expect(waited).toBeGreaterThanOrEqual(MAPPING_WAIT_BEFORE_INTRODUCING_MS - 50)
    expect(waited).toBeLessThan(MAPPING_WAIT_BEFORE_INTRODUCING_MS + 1000)

    await waitFor(() => events.some((event) => event.type === 'mapping-unknown'), MAPPING_PROBE_TIMEOUT_MS + 2000, 'the probe to time out')
    expect(events.find((event) => event.type === 'mapping-unknown')).toMatchObject({ reason: 'probe-failed', message: expect.stringContaining(`within ${MAPPING_PROBE_TIMEOUT_MS} ms`) })
    expect(performance.now() - started).toBeGreaterThanOrEqual(MAPPING_PROBE_TIMEOUT_MS - 50)
  }, 20_000)

  it('probes again on a new server connection that shows us at another endpoint than the verdict was for, not at the same one', async () => {
    // The mapping port answers every probe: dependent, at the endpoint the registration was read at last.
    let seenAt = { address: '127.0.0.1', port: 1 }
    let probes = 0
    const mappingPort = createHttpServer((request, response) => {
      probes++
      request.resume()
      json(response, 200, { mapping: 'dependent', publicEndpoint: seenAt, probeEndpoint: { address: '127.0.0.1', port: 2 } })
    })
    mappingPort.listen(0, '127.0.0.1')
    await once(mappingPort, 'listening')
    closing.push(async () => { mappingPort.closeAllConnections(); mappingPort.close() })
    // Every poll ends its connection, so that each is followed by a new one, where the registration is read again.
    const mappingProbe = { port: (mappingPort.address() as AddressInfo).port }
    let proved: RequestBody | undefined
    const api = await rendezvousDouble({
      register: (response, _count, body) => { proved = body; json(response, 201, registrationOf(body, { publicEndpoint: seenAt, mappingProbe })) },
      poll: (response) => { setTimeout(() => { if (!response.destroyed) json(response, 200, { introductions: [], cursor: 0 }, { connection: 'close' }) }, 200) },
      view: (response) => {
        const { token: _token, ...view } = registrationOf(proved, { publicEndpoint: seenAt, mapping: 'dependent', mappingProbe })
        json(response, 200, view)
      }
    })
    closing.push(api.close)
    const events: PeerEvent[] = []
    await open(api.url, 'bob', events)
    await waitFor(() => events.some((event) => event.type === 'mapping'), 5000, 'the first verdict')
    expect(probes).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 1500)) // several new connections, each showing the endpoint of the verdict
    expect(probes).toBe(1)
    seenAt = { address: '127.0.0.1', port: 3 } // the NAT now maps us elsewhere
    await waitFor(() => probes === 2, 5000, 'a probe for the new endpoint')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(probes).toBe(2)
  })

  it('closes at once with a probe under way, and leaves no socket, server or timer behind', async () => {
    const server = await serverDouble('silent')
    await new Promise((resolve) => setTimeout(resolve, 50))
    const before = { tcp: handles('TCPSocketWrap'), servers: handles('TCPServerWrap'), timers: handles('Timeout') }
    const events: PeerEvent[] = []
    const bob = await Peer.open({ server: server.url, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], onTrace: (event) => events.push(event) })
    await waitFor(() => server.probes() === 1, 2000, 'the probe to arrive')
    const closed = performance.now()
    await bob.close()
    expect(performance.now() - closed).toBeLessThan(1000)
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The double never reads, so only a reset (not a FIN) closes its end of the probe: none may be left of either end.
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('TCPServerWrap')).toBe(before.servers)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
    expect(events.map((event) => event.type)).not.toContain('mapping-unknown') // a probe we ended is not a failure
  })
})
