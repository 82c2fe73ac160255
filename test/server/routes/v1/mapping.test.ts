// The mapping probe, over real sockets on loopback: a peer registers on the
// API port and probes the mapping port from a local port of the test's
// choosing, so the server sees the same source port (independent) or another
// one (dependent). Loopback has no NAT: a probe "from another port" is what a
// NAT that maps every connection anew would show.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenMappingOnLoopback, listenOnLoopback, requestFrom, tempDatabasePath, waitFor, type AnswerFrom } from '../../../helpers.js'
import type { AppOptions } from '../../../../server/app.js'

let app: FastifyInstance
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await app?.close()
})

interface Server { api: string, mapping: string }

async function start (options: Partial<AppOptions> = {}, { mappingPort = true } = {}): Promise<Server> {
  app = await buildTestApp(options)
  const api = await listenOnLoopback(app)
  const mapping = mappingPort ? `http://127.0.0.1:${await listenMappingOnLoopback(app)}` : ''
  return { api, mapping }
}

interface Registered { id: string, token: string, port: number, body: any }

/** Registers over a connection of its own; `port` is where the server saw it from. */
async function register (server: Server, id: string, localAddress = '127.0.0.1'): Promise<Registered> {
  const answer = await requestFrom(`${server.api}/v1/peers`, { method: 'POST', body: { id, privateEndpoints: [] }, localAddress })
  expect(answer.status).toBe(201)
  return { id, token: answer.body.token, port: answer.localPort, body: answer.body }
}

async function probe (server: Server, peer: Registered, { fromPort = peer.port, token = peer.token, url = server.mapping } = {}): Promise<AnswerFrom> {
  return await requestFrom(`${url}/v1/peers/${peer.id}/mapping`, { method: 'POST', headers: bearer({ token }), localPort: fromPort })
}

async function read (server: Server, peer: Registered): Promise<any> {
  const answer = await requestFrom(`${server.api}/v1/peers/${peer.id}`, { headers: bearer(peer), localPort: peer.port })
  expect(answer.status).toBe(200)
  return answer.body
}

/** A free local port other than `not`: where a probe from "another port" comes from. */
async function otherPort (not: number): Promise<number> {
  for (;;) {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    await new Promise((resolve) => server.close(resolve))
    if (port !== not) return port
  }
}

describe('the mapping probe', () => {
  it('finds an endpoint-independent mapping when the probe comes from the registration\'s own port', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    expect(alice.body).toMatchObject({ mapping: 'unknown', mappingProbe: { port: Number(new URL(server.mapping).port) } })
    const answer = await probe(server, alice)
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({
      mapping: 'independent',
      publicEndpoint: { address: '127.0.0.1', port: alice.port },
      probeEndpoint: { address: '127.0.0.1', port: alice.port }
    })
    // One request per connection on the mapping port.
    expect(answer.headers.connection).toBe('close')
    expect(await read(server, alice)).toMatchObject({ mapping: 'independent' })
    // Committed, not only held in memory.
    expect(await app.prisma.registration.findUnique({ where: { peerId: 'alice' } })).toMatchObject({ mapping: 'independent', mappingAddress: '127.0.0.1', mappingPort: alice.port })
  })

  it('finds an endpoint-dependent mapping when the probe comes from another port, and neither refreshes nor moves the registration', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const before = await app.prisma.registration.findUnique({ where: { peerId: 'alice' } })
    const other = await otherPort(alice.port)
    const answer = await probe(server, alice, { fromPort: other })
    expect(answer.body).toEqual({
      mapping: 'dependent',
      publicEndpoint: { address: '127.0.0.1', port: alice.port },
      probeEndpoint: { address: '127.0.0.1', port: other }
    })
    const held = app.liveRegistrations.peer('alice')!
    expect(held).toMatchObject({ publicPort: alice.port, expiresAt: before!.expiresAt, mapping: 'dependent' })
  })

  it('says unknown until probed, and offers no probe where the mapping port does not listen', async () => {
    const server = await start({}, { mappingPort: false })
    const alice = await register(server, 'alice')
    expect(alice.body.mapping).toBe('unknown')
    expect(alice.body).not.toHaveProperty('mappingProbe')
    expect(await read(server, alice)).toMatchObject({ mapping: 'unknown' })
    const answer = await probe(server, alice, { url: server.api })
    expect(answer.status).toBe(421)
    expect(answer.body).toMatchObject({ code: 'PUNCH_ERR_MAPPING_PORT_ONLY', message: expect.stringContaining('which this server does not have') })
  })

  it('answers the probe on the mapping port only, and nothing else there', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const onApi = await probe(server, alice, { url: server.api })
    expect(onApi.status).toBe(421)
    expect(onApi.body).toMatchObject({ code: 'PUNCH_ERR_MAPPING_PORT_ONLY', message: expect.stringContaining(`port ${new URL(server.mapping).port}`) })
    for (const [method, path] of [['GET', '/health'], ['GET', '/v1/peers/alice'], ['POST', '/v1/peers/alice/refresh'], ['GET', '/nothing']]) {
      const answer = await requestFrom(`${server.mapping}${path}`, { method: method!, headers: bearer(alice) })
      expect(answer.status, `${method!} ${path!}`).toBe(404)
      expect(answer.body).toMatchObject({ code: 'PUNCH_ERR_ROUTE_NOT_FOUND' })
    }
    expect(await read(server, alice)).toMatchObject({ mapping: 'unknown' })
  })

  it('never raises a dependent verdict by probing the same endpoint again (a peer cannot probe until a port repeats)', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    expect((await probe(server, alice, { fromPort: await otherPort(alice.port) })).body.mapping).toBe('dependent')
    expect((await probe(server, alice)).body.mapping).toBe('dependent')
    expect(await read(server, alice)).toMatchObject({ mapping: 'dependent' })
    // Lowering works the other way round: independent, then a probe from elsewhere.
    const bob = await register(server, 'bob')
    expect((await probe(server, bob)).body.mapping).toBe('independent')
    expect((await probe(server, bob, { fromPort: await otherPort(bob.port) })).body.mapping).toBe('dependent')
  })

  it('keeps the verdict while the public address stays, and forgets it when the peer moves to another address', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    expect((await probe(server, alice)).body.mapping).toBe('independent')
    // A new port of the same NAT: the NAT's behaviour has not changed.
    const moved = await requestFrom(`${server.api}/v1/peers/alice`, { headers: bearer(alice) })
    expect(moved.body).toMatchObject({ publicEndpoint: { address: '127.0.0.1', port: moved.localPort }, mapping: 'independent' })
    // Another address (another network, another NAT): unknown until probed from there.
    const elsewhere = await requestFrom(`${server.api}/v1/peers/alice`, { headers: bearer(alice), localAddress: '127.0.0.2' })
    expect(elsewhere.body).toMatchObject({ publicEndpoint: { address: '127.0.0.2' }, mapping: 'unknown' })
    const again = await probe(server, { ...alice, port: elsewhere.localPort })
    expect(again.body).toMatchObject({ mapping: 'dependent', probeEndpoint: { address: '127.0.0.1' } })
  })

  it('authenticates the probe as on the API port', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const bob = await register(server, 'bob')
    const url = `${server.mapping}/v1/peers/alice/mapping`
    expect((await requestFrom(url, { method: 'POST', localPort: alice.port })).body).toMatchObject({ statusCode: 401, code: 'PUNCH_ERR_TOKEN_MISSING' })
    expect((await requestFrom(url, { method: 'POST', headers: { authorization: 'Bearer pl_not-a-token' }, localPort: alice.port })).body).toMatchObject({ statusCode: 401, code: 'PUNCH_ERR_TOKEN_INVALID' })
    // Bob probing from Alice's port, with his own token, for Alice.
    expect((await requestFrom(url, { method: 'POST', headers: bearer(bob), localPort: alice.port })).body).toMatchObject({ statusCode: 403, code: 'PUNCH_ERR_FORBIDDEN_PEER' })
    expect((await requestFrom(`${server.mapping}/v1/peers/alice%2F..%2Fbob/mapping`, { method: 'POST', headers: bearer(alice) })).status).toBe(400)
    expect(await read(server, alice)).toMatchObject({ mapping: 'unknown' })
    expect(await read(server, bob)).toMatchObject({ mapping: 'unknown' })
  })

  it('counts probes against the per-address and per-peer rate limits of the API port', async () => {
    const server = await start({ rateLimitPerAddress: 4 })
    const alice = await register(server, 'alice') // 1
    await read(server, alice) // 2
    expect((await probe(server, alice)).status).toBe(200) // 3
    expect((await probe(server, alice)).status).toBe(200) // 4
    const limited = await probe(server, alice)
    expect(limited.status).toBe(429)
    expect(limited.body).toMatchObject({ code: 'PUNCH_ERR_RATE_LIMITED', message: expect.stringContaining('address') })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect((await requestFrom(`${server.api}/v1/peers/alice`, { headers: bearer(alice) })).status).toBe(429)

    await app.close()
    const again = await start({ rateLimitPerPeer: 2 })
    const bob = await register(again, 'bob')
    expect((await probe(again, bob)).status).toBe(200)
    expect((await probe(again, bob)).status).toBe(200)
    expect((await probe(again, bob)).body).toMatchObject({ statusCode: 429, code: 'PUNCH_ERR_RATE_LIMITED', message: expect.stringContaining('peer') })
  })

  it('puts the mapping port\'s connections under the same per-address bound as the API port\'s', async () => {
    const server = await start({ maxConnectionsPerAddress: 3 })
    const open = async (url: string): Promise<Socket> => {
      const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1' })
      socket.on('error', () => {})
      sockets.push(socket)
      await once(socket, 'connect')
      return socket
    }
    await open(server.api)
    await open(server.api)
    await open(server.mapping)
    await waitFor(() => app.connectionsByAddress.get('127.0.0.1') === 3)
    const over = await open(server.mapping)
    await once(over, 'close')
    const overApi = await open(server.api)
    await once(overApi, 'close')
    expect(app.connectionsByAddress.get('127.0.0.1')).toBe(3)
  })

  it('gives both peers of an introduction both mappings, and counts outcome reports under the pair', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const bob = await register(server, 'bob')
    expect((await probe(server, alice)).body.mapping).toBe('independent')
    expect((await probe(server, bob, { fromPort: await otherPort(bob.port) })).body.mapping).toBe('dependent')
    const made = await requestFrom(`${server.api}/v1/introductions`, { method: 'POST', headers: bearer(alice), body: { target: 'bob' }, localPort: alice.port })
    expect(made.status).toBe(201)
    expect(made.body).toMatchObject({ self: { id: 'alice', mapping: 'independent' }, peer: { id: 'bob', mapping: 'dependent' } })
    const inbox = await requestFrom(`${server.api}/v1/peers/bob/inbox?wait=0`, { headers: bearer(bob), localPort: bob.port })
    expect(inbox.body.introductions[0]).toMatchObject({ id: made.body.id, self: { id: 'bob', mapping: 'dependent' }, peer: { id: 'alice', mapping: 'independent' } })

    // The introduction keeps what the server knew when it was made, whatever is probed later.
    const carol = await register(server, 'carol')
    const unprobed = await requestFrom(`${server.api}/v1/introductions`, { method: 'POST', headers: bearer(alice), body: { target: 'carol' }, localPort: alice.port })
    expect((await probe(server, carol)).body.mapping).toBe('independent')

    const report = async (peer: Registered, id: string, body: Record<string, unknown>): Promise<AnswerFrom> =>
      await requestFrom(`${server.api}/v1/introductions/${id}/outcome`, { method: 'POST', headers: bearer(peer), body, localPort: peer.port })
    const failed = { outcome: 'failed', elapsedMs: 10_000, dials: 900, errorCode: 'PUNCH_ERR_PUNCH_TIMEOUT' }
    expect((await report(alice, made.body.id, failed)).body).toMatchObject({ mappings: 'independent+dependent' })
    expect((await report(bob, made.body.id, failed)).body).toMatchObject({ mappings: 'independent+dependent' })
    expect((await report(carol, unprobed.body.id, { outcome: 'connected', via: 'connect', path: 'public', elapsedMs: 20, dials: 2 })).body).toMatchObject({ mappings: 'independent+unknown' })

    const stats = (await requestFrom(`${server.api}/v1/stats/punches`)).body
    expect(stats.byMappings).toEqual({
      'independent+dependent': { reports: 2, connected: 0, failed: 2 },
      'independent+unknown': { reports: 1, connected: 1, failed: 0 }
    })
    const metrics = (await app.inject({ url: '/metrics' })).body
    expect(metrics).toContain('punchline_punch_reports_total{outcome="failed",via="none",path="none",mappings="independent+dependent"} 2')
  })

  it('builds the statistics by pair again from the stored reports after a restart', async () => {
    const databasePath = tempDatabasePath()
    const server = await start({ databasePath })
    const alice = await register(server, 'alice')
    const bob = await register(server, 'bob')
    await probe(server, alice, { fromPort: await otherPort(alice.port) })
    await probe(server, bob, { fromPort: await otherPort(bob.port) })
    const made = await requestFrom(`${server.api}/v1/introductions`, { method: 'POST', headers: bearer(alice), body: { target: 'bob' }, localPort: alice.port })
    await requestFrom(`${server.api}/v1/introductions/${made.body.id as string}/outcome`, { method: 'POST', headers: bearer(alice), body: { outcome: 'failed', elapsedMs: 10_000, dials: 9 }, localPort: alice.port })
    await app.close()
    app = await buildTestApp({ databasePath })
    await app.ready()
    const stats = (await app.inject({ url: '/v1/stats/punches' })).json()
    expect(stats.byMappings).toEqual({ 'dependent+dependent': { reports: 1, connected: 0, failed: 1 } })
  })
})
