import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, register, type RegisteredPeer } from '../../../helpers.js'

describe('/v1/introductions', () => {
  let app: FastifyInstance
  let clock: Date
  let alice: RegisteredPeer
  let bob: RegisteredPeer
  beforeEach(async () => {
    clock = new Date('2026-01-01T00:00:00Z')
    app = await buildTestApp({ now: () => clock, introductionTtlSeconds: 30 })
    alice = await register(app, { id: 'alice', privateEndpoints: [{ address: '192.168.1.10', port: 4000 }] }, 41000)
    bob = await register(app, { id: 'bob', privateEndpoints: [{ address: '10.1.1.20', port: 5000 }] }, 42000)
  })
  afterEach(async () => { await app.close() })

  async function introduce (from: RegisteredPeer, target: string): Promise<{ statusCode: number, body: any }> {
    const response = await app.inject({ method: 'POST', url: '/v1/introductions', headers: { ...bearer(from), 'x-test-remote-port': String(from.publicEndpoint.port) }, payload: { target } })
    return { statusCode: response.statusCode, body: response.json() }
  }

  it('answers the initiator with the target\'s endpoints and queues the mirror image, same id and secret, for the target', async () => {
    const { statusCode, body: forAlice } = await introduce(alice, 'bob')
    expect(statusCode).toBe(201)
    expect(forAlice).toMatchObject({
      role: 'initiator',
      self: { id: 'alice', publicEndpoint: { address: '127.0.0.1', port: 41000 }, privateEndpoints: [{ address: '192.168.1.10', port: 4000 }] },
      peer: { id: 'bob', publicEndpoint: { address: '127.0.0.1', port: 42000 }, privateEndpoints: [{ address: '10.1.1.20', port: 5000 }] },
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T00:00:30.000Z'
    })
    expect(forAlice.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Buffer.from(forAlice.secret, 'base64url')).toHaveLength(32)

    const inbox = (await app.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: { ...bearer(bob), 'x-test-remote-port': '42000' } })).json()
    expect(inbox.introductions).toHaveLength(1)
    expect(inbox.introductions[0]).toEqual({ ...forAlice, role: 'target', self: forAlice.peer, peer: forAlice.self })
  })

  it('gives each introduction a fresh id and secret', async () => {
    const first = (await introduce(alice, 'bob')).body
    const second = (await introduce(alice, 'bob')).body
    expect(second.id).not.toBe(first.id)
    expect(second.secret).not.toBe(first.secret)
  })

  it('answers 404 for an unknown or expired target and 400 for oneself', async () => {
    expect(await introduce(alice, 'carol')).toMatchObject({ statusCode: 404, body: { code: 'PUNCH_ERR_PEER_NOT_FOUND' } })
    expect(await introduce(alice, 'alice')).toMatchObject({ statusCode: 400, body: { code: 'PUNCH_ERR_SELF_INTRODUCTION' } })
    clock = new Date(clock.getTime() + 89_000) // alice introduces at 89 s (refreshing herself); bob expires at 90 s
    expect((await introduce(alice, 'bob')).statusCode).toBe(201)
    clock = new Date(clock.getTime() + 2_000)
    expect(await introduce(alice, 'bob')).toMatchObject({ statusCode: 404, body: { code: 'PUNCH_ERR_PEER_NOT_FOUND' } })
  })

  it('needs a token', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/introductions', payload: { target: 'bob' } })
    expect(response.statusCode).toBe(401)
    expect(response.json().code).toBe('PUNCH_ERR_TOKEN_MISSING')
  })

  it('lets only its two peers read an introduction, until it expires', async () => {
    const carol = await register(app, { id: 'carol' })
    const { body: made } = await introduce(alice, 'bob')
    const read = async (peer: RegisteredPeer) => await app.inject({ method: 'GET', url: `/v1/introductions/${made.id as string}`, headers: bearer(peer) })
    expect((await read(alice)).json()).toMatchObject({ id: made.id, role: 'initiator', secret: made.secret })
    expect((await read(bob)).json()).toMatchObject({ id: made.id, role: 'target', peer: { id: 'alice' } })
    const forCarol = await read(carol)
    expect(forCarol.statusCode).toBe(403)
    expect(forCarol.json().code).toBe('PUNCH_ERR_NOT_A_PARTICIPANT')
    clock = new Date(clock.getTime() + 30_000)
    expect((await read(alice)).json().code).toBe('PUNCH_ERR_INTRODUCTION_NOT_FOUND')
  })

  it('does not deliver expired introductions', async () => {
    await introduce(alice, 'bob')
    clock = new Date(clock.getTime() + 31_000)
    const inbox = (await app.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: bearer(bob) })).json()
    expect(inbox.introductions).toEqual([])
  })

  it('delivers at least once: an introduction stays pending until acknowledged, by cursor or explicitly', async () => {
    const poll = async (query: string) => (await app.inject({ method: 'GET', url: `/v1/peers/bob/inbox?wait=0${query}`, headers: bearer(bob) })).json()
    const first = (await introduce(alice, 'bob')).body
    const again = await poll('')
    expect(again.introductions.map((i: any) => i.id)).toEqual([first.id])
    expect((await poll('')).introductions.map((i: any) => i.id)).toEqual([first.id]) // not acknowledged yet: delivered again

    const second = (await introduce(alice, 'bob')).body
    const next = await poll(`&after=${again.cursor as number}`)
    expect(next.introductions.map((i: any) => i.id)).toEqual([second.id])

    const third = (await introduce(alice, 'bob')).body
    const ack = await app.inject({ method: 'POST', url: '/v1/peers/bob/inbox/ack', headers: bearer(bob), payload: { cursor: next.cursor } })
    expect(ack.json()).toEqual({ cursor: next.cursor })
    expect((await poll('')).introductions.map((i: any) => i.id)).toEqual([third.id])
  })

  it('answers polls from the introductions it holds exactly as the database would, and reads it only for an inbox it does not know', async () => {
    const poll = async (peer: RegisteredPeer, query: string) => (await app.inject({ method: 'GET', url: `/v1/peers/bob/inbox?wait=0${query}`, headers: bearer(peer) })).json()
    const stored = async (after: number): Promise<string[]> => (await app.prisma.introduction.findMany({ where: { targetId: 'bob', seq: { gt: after } }, orderBy: { seq: 'asc' } })).map((row) => row.id)
    const findMany = vi.spyOn(app.prisma.introduction, 'findMany')
    const ids = (inbox: any): string[] => inbox.introductions.map((i: any) => i.id)

    await introduce(alice, 'bob')
    const first = await poll(bob, '') // an inbox not read yet: from the database
    expect(findMany).toHaveBeenCalledTimes(1)
    expect(ids(first)).toEqual(await stored(0))
    await introduce(alice, 'bob')
    await introduce(alice, 'bob')
    findMany.mockClear()
    const unacknowledged = await poll(bob, '')
    const next = await poll(bob, `&after=${first.cursor as number}`)
    expect(findMany).not.toHaveBeenCalled() // both from memory
    expect(ids(unacknowledged)).toEqual(await stored(0))
    expect(ids(unacknowledged)).toHaveLength(3)
    expect(ids(next)).toEqual(await stored(first.cursor))
    expect(ids(await poll(bob, `&after=${next.cursor as number}`))).toEqual([])
    // An older cursor than the one acknowledged delivers nothing again, from memory as from the database.
    findMany.mockClear()
    expect(ids(await poll(bob, '&after=0'))).toEqual([])
    expect(findMany).not.toHaveBeenCalled()
  })

  it('does not answer a new registration of an id from the inbox it held for the old one', async () => {
    const poll = async (peer: RegisteredPeer) => (await app.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: bearer(peer) })).json()
    const ids = (inbox: any): string[] => inbox.introductions.map((i: any) => i.id)
    const old = (await introduce(alice, 'bob')).body
    expect(ids(await poll(bob))).toEqual([old.id]) // held in memory from here, never acknowledged
    expect((await app.inject({ method: 'DELETE', url: '/v1/peers/bob', headers: bearer(bob) })).statusCode).toBe(204)
    const again = await register(app, { id: 'bob', privateEndpoints: [] }, 42001)
    expect(ids(await poll(again))).toEqual([])
    const fresh = (await introduce(alice, 'bob')).body
    expect(ids(await poll(again))).toEqual([fresh.id])
  })

  it('clamps a cursor from the future, so it cannot swallow introductions not yet made', async () => {
    const poll = async (query: string) => (await app.inject({ method: 'GET', url: `/v1/peers/bob/inbox?wait=0${query}`, headers: bearer(bob) })).json()
    expect((await poll('&after=999999')).cursor).toBe(0)
    const made = (await introduce(alice, 'bob')).body
    expect((await poll('&after=999999')).introductions).toEqual([]) // acknowledges the one that exists...
    const later = (await introduce(alice, 'bob')).body
    expect((await poll('')).introductions.map((i: any) => i.id)).toEqual([later.id]) // ...but not the next one
    expect(later.id).not.toBe(made.id)
  })
})
