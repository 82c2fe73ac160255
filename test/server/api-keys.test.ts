// Optional deployment-wide API keys: registering needs one; nothing else does.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { Peer } from '../../sdk/index.js'
import { bearer, buildTestApp, listenOnLoopback } from '../helpers.js'

const KEY = 'k3y-for-tests-0123456789'
const OTHER = 'another-key-0123456789'

describe('API keys', () => {
  let app: FastifyInstance
  afterEach(async () => { await app.close() })

  it('let only holders of a configured key register or renew; other routes take the bearer token as before', async () => {
    app = await buildTestApp({ apiKeys: [OTHER, KEY] })
    const registerWith = async (headers: Record<string, string>, id = 'alice') => await app.inject({ method: 'POST', url: '/v1/peers', headers, payload: { id, privateEndpoints: [] } })
    for (const headers of [{}, { 'x-api-key': 'wrong-key-0123456789' }, { 'x-api-key': '' }] as Array<Record<string, string>>) {
      const refused = await registerWith(headers)
      expect(refused.statusCode).toBe(401)
      expect(refused.json()).toMatchObject({ code: 'PUNCH_ERR_API_KEY_INVALID' })
    }
    const alice = (await registerWith({ 'x-api-key': KEY })).json()
    expect(alice.token).toMatch(/^pl_/)
    expect((await registerWith({ 'x-api-key': OTHER }, 'bob')).statusCode).toBe(201)
    expect((await registerWith(bearer(alice))).statusCode).toBe(401) // renewing is registering too
    expect((await registerWith({ ...bearer(alice), 'x-api-key': KEY })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })).statusCode).toBe(201)
  })

  it('are not required when none are configured', async () => {
    app = await buildTestApp()
    expect((await app.inject({ method: 'POST', url: '/v1/peers', payload: { privateEndpoints: [] } })).statusCode).toBe(201)
  })

  it('are sent by the SDK when given, and their absence is a typed rejection', async () => {
    app = await buildTestApp({ apiKeys: [KEY] })
    const server = await listenOnLoopback(app)
    await expect(Peer.open({ server, localAddress: '127.0.0.1', privateEndpoints: [] })).rejects.toMatchObject({ code: 'PUNCH_ERR_SERVER_REJECTED', status: 401, serverCode: 'PUNCH_ERR_API_KEY_INVALID' })
    const peer = await Peer.open({ server, localAddress: '127.0.0.1', privateEndpoints: [], apiKey: KEY })
    expect(peer.id).toEqual(expect.any(String))
    await peer.close()
  })
})
