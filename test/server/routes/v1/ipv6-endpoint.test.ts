// The IPv6 observation, over real sockets on loopback: a peer registers over
// IPv4 and sends POST /v1/peers/{id}/ipv6-endpoint over IPv6; the server
// records the source it saw (never an address the peer names), shows it while
// the registration's public address stays the same, and every introduction
// made afterwards carries it.
import { isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, requestFrom } from '../../../helpers.js'

const hasIpv6Loopback = Object.values(networkInterfaces()).flat().some((address) => address?.address === '::1')

let app: FastifyInstance
afterEach(async () => { await app?.close() })

interface Server { v4: string, v6: string }

/** The app on both loopbacks: one dual-stack socket on ::, as `--host ::` serves. */
async function start (): Promise<Server> {
  app = await buildTestApp()
  await app.listen({ host: '::', port: 0 })
  const { port } = app.server.address() as { port: number }
  return { v4: `http://127.0.0.1:${port}`, v6: `http://[::1]:${port}` }
}

async function register (server: Server, id: string, localAddress = '127.0.0.1'): Promise<{ id: string, token: string, port: number }> {
  const answer = await requestFrom(`${server.v4}/v1/peers`, { method: 'POST', body: { id, privateEndpoints: [] }, localAddress })
  expect(answer.status).toBe(201)
  return { id, token: answer.body.token, port: answer.localPort }
}

describe.skipIf(!hasIpv6Loopback)('the IPv6 observation', () => {
  it('records the source of the request over IPv6 as the registration\'s ipv6Endpoint, and introductions carry it', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const bob = await register(server, 'bob')
    const before = await requestFrom(`${server.v4}/v1/peers/alice`, { headers: bearer(alice), localPort: alice.port })
    expect(before.body.ipv6Endpoint).toBeUndefined()

    const observed = await requestFrom(`${server.v6}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', headers: bearer(alice), localAddress: '::1' })
    expect(observed.status).toBe(200)
    expect(observed.body).toEqual({ ipv6Endpoint: { address: '::1', port: observed.localPort } })
    // Committed, not only held in memory, and anchored to the public address it was observed with.
    expect(await app.prisma.registration.findUnique({ where: { peerId: 'alice' } })).toMatchObject({ ipv6Address: '::1', ipv6Port: observed.localPort, ipv6Anchor: '127.0.0.1' })
    const after = await requestFrom(`${server.v4}/v1/peers/alice`, { headers: bearer(alice), localPort: alice.port })
    expect(after.body).toMatchObject({ publicEndpoint: { address: '127.0.0.1', port: alice.port }, ipv6Endpoint: { address: '::1', port: observed.localPort } })

    // Bob is introduced to alice: he gets her IPv6 endpoint; she gets none of his (he sent none).
    const introduction = await requestFrom(`${server.v4}/v1/introductions`, { method: 'POST', headers: bearer(bob), body: { target: 'alice' }, localPort: bob.port })
    expect(introduction.status).toBe(201)
    expect(introduction.body.peer).toMatchObject({ id: 'alice', ipv6Endpoint: { address: '::1', port: observed.localPort } })
    expect(introduction.body.self.ipv6Endpoint).toBeUndefined()
    const inbox = await requestFrom(`${server.v4}/v1/peers/alice/inbox?wait=1`, { headers: bearer(alice), localPort: alice.port })
    expect(inbox.body.introductions[0].self).toMatchObject({ id: 'alice', ipv6Endpoint: { address: '::1', port: observed.localPort } })
  })

  it('refuses a request over IPv4 with PUNCH_ERR_IPV6_ONLY, and records nothing', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const answer = await requestFrom(`${server.v4}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', headers: bearer(alice) })
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ code: 'PUNCH_ERR_IPV6_ONLY', message: expect.stringContaining('127.0.0.1') })
    expect(await app.prisma.registration.findUnique({ where: { peerId: 'alice' } })).toMatchObject({ ipv6Address: null, ipv6Port: null })
  })

  it('takes no address from the body: an endpoint the peer names is ignored, the source is what is recorded', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const named = await requestFrom(`${server.v6}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', headers: bearer(alice), body: { ipv6Endpoint: { address: '2001:db8::66', port: 22 } }, localAddress: '::1' })
    expect(named.body).toEqual({ ipv6Endpoint: { address: '::1', port: named.localPort } })
    expect(await app.prisma.registration.findUnique({ where: { peerId: 'alice' } })).toMatchObject({ ipv6Address: '::1', ipv6Port: named.localPort })
  })

  it('shows no ipv6Endpoint once the registration\'s public address has moved: a peer on another network has it observed again', async () => {
    const server = await start()
    const alice = await register(server, 'alice')
    const observed = await requestFrom(`${server.v6}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', headers: bearer(alice), localAddress: '::1' })
    expect(observed.status).toBe(200)
    // Alice's next request comes from another public address (another network): the observation was made elsewhere.
    const moved = await requestFrom(`${server.v4}/v1/peers/alice`, { headers: bearer(alice), localAddress: '127.0.0.2' })
    expect(moved.body.publicEndpoint.address).toBe('127.0.0.2')
    expect(moved.body.ipv6Endpoint).toBeUndefined()
    const again = await requestFrom(`${server.v6}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', headers: bearer(alice), localAddress: '::1' })
    expect(again.status).toBe(200)
    const read = await requestFrom(`${server.v4}/v1/peers/alice`, { headers: bearer(alice), localAddress: '127.0.0.2' })
    expect(read.body.ipv6Endpoint).toEqual({ address: '::1', port: again.localPort })
    expect(isIPv6(read.body.ipv6Endpoint.address)).toBe(true)
  })

  it('needs the peer\'s token', async () => {
    const server = await start()
    await register(server, 'alice')
    const answer = await requestFrom(`${server.v6}/v1/peers/alice/ipv6-endpoint`, { method: 'POST', localAddress: '::1' })
    expect(answer.status).toBe(401)
  })
})
