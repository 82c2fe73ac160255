// Who may attach to a relay, and how everyone else is refused: before the
// 101, with the ordinary JSON error body and a code from the error table,
// by the same hooks as every route (the address and peer rate limits, the
// token), and without moving the caller's observed endpoint.
import { describe, expect, it } from 'vitest'
import { bearer, waitFor } from '../../helpers.js'
import { relayServer, sample } from './fixture.js'
import { rawUpgrade, readAll } from './raw-upgrade.js'

const UNKNOWN = '00000000-0000-4000-8000-000000000000'

describe('attaching to a relay', () => {
  it('lets only the introduction\'s two peers attach, each with its own token', async () => {
    const fixture = await relayServer()
    const { url, alice, bob, carol } = fixture
    const id = await fixture.introduce(alice, bob)

    const stranger = await rawUpgrade(url, id, { token: carol.token })
    expect(stranger.status).toBe(403)
    expect(JSON.parse(stranger.body)).toEqual({ statusCode: 403, code: 'PUNCH_ERR_NOT_A_PARTICIPANT', error: 'Forbidden', message: `Peer "carol" is not part of introduction "${id}"` })
    expect(stranger.headers.connection).toBe('close')
    await stranger.closed // the server closes a refused upgrade: no parser is left for another request

    const wrong = await rawUpgrade(url, id, { token: 'pl_not-a-token' })
    expect(wrong.status).toBe(401)
    expect(JSON.parse(wrong.body)).toMatchObject({ code: 'PUNCH_ERR_TOKEN_INVALID' })
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="punchline"')
    expect(JSON.parse((await rawUpgrade(url, id, {})).body)).toMatchObject({ statusCode: 401, code: 'PUNCH_ERR_TOKEN_MISSING' })
    expect(JSON.parse((await rawUpgrade(url, UNKNOWN, { token: alice.token })).body)).toMatchObject({ statusCode: 404, code: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND' })
    expect(JSON.parse((await rawUpgrade(url, 'not-a-uuid', { token: alice.token })).body)).toMatchObject({ statusCode: 400, code: 'PUNCH_ERR_VALIDATION', field: 'params/introductionId' })
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })

    // The refusals are counted by code.
    const metrics = await fixture.metrics()
    expect(sample(metrics, 'punchline_relay_refusals_total{code="PUNCH_ERR_NOT_A_PARTICIPANT"}')).toBe(1)
    expect(sample(metrics, 'punchline_relay_refusals_total{code="PUNCH_ERR_TOKEN_INVALID"}')).toBe(1)
    expect(sample(metrics, 'punchline_relay_refusals_total{code="PUNCH_ERR_INTRODUCTION_NOT_FOUND"}')).toBe(1)

    // The two peers themselves get through.
    const a = await rawUpgrade(url, id, { token: alice.token })
    const b = await rawUpgrade(url, id, { token: bob.token })
    expect([a.status, b.status]).toEqual([101, 101])
    expect(a.headers).toMatchObject({ connection: 'Upgrade', upgrade: 'punchline-relay/1' })
    a.socket.end('to bob')
    b.socket.end('to alice')
    expect((await readAll(b.socket)).toString()).toBe('to bob')
    expect((await readAll(a.socket)).toString()).toBe('to alice')
  })

  it('refuses an expired introduction: 404', async () => {
    let clock = new Date('2026-11-27T12:00:00Z')
    const fixture = await relayServer({ now: () => clock })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    clock = new Date(clock.getTime() + 31_000) // introductions live 30 s
    expect(JSON.parse((await rawUpgrade(fixture.url, id, { token: fixture.bob.token })).body)).toMatchObject({ statusCode: 404, code: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND' })
  })

  it('answers 426 with the protocol to upgrade to when the request is no upgrade, or one to another protocol', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const plain = await fetch(`${fixture.url}/v1/introductions/${id}/relay`, { headers: bearer(fixture.alice) })
    expect(plain.status).toBe(426)
    expect(plain.headers.get('upgrade')).toBe('punchline-relay/1')
    expect(await plain.json()).toMatchObject({ statusCode: 426, code: 'PUNCH_ERR_UPGRADE_REQUIRED', field: 'headers/upgrade' })

    const websocket = await rawUpgrade(fixture.url, id, { token: fixture.alice.token, protocol: 'websocket' })
    expect(websocket.status).toBe(426)
    expect(websocket.headers.upgrade).toBe('punchline-relay/1')
    expect(websocket.headers.connection).toMatch(/close/)
    await websocket.closed
    // Protocol names compare case-insensitively, in a list.
    expect((await rawUpgrade(fixture.url, id, { token: fixture.alice.token, protocol: 'h2c, PUNCHLINE-RELAY/1' })).status).toBe(101)
  })

  it('refuses every attach with 403 PUNCH_ERR_RELAY_DISABLED when run with --relay off, and takes no upgrade at all', async () => {
    const fixture = await relayServer({ relay: 'off' })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const refused = await rawUpgrade(fixture.url, id, { token: fixture.alice.token })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'PUNCH_ERR_RELAY_DISABLED' })
    expect(fixture.app.server.listenerCount('upgrade')).toBe(0)
    refused.socket.destroy()
  })

  it('lets each side attach once per introduction: 409 for the second attach, 410 for a side that comes after the other left', async () => {
    const fixture = await relayServer()
    const { url, alice, bob } = fixture
    const id = await fixture.introduce(alice, bob)
    const first = await rawUpgrade(url, id, { token: alice.token })
    expect(first.status).toBe(101)
    const again = await rawUpgrade(url, id, { token: alice.token })
    expect(again.status).toBe(409)
    expect(JSON.parse(again.body)).toMatchObject({ code: 'PUNCH_ERR_RELAY_ATTACHED', message: expect.stringContaining('"alice"') })

    // Alice leaves (a reset: a FIN alone could be a half-close) before bob comes: the relay is over, and bob is told so.
    first.socket.resetAndDestroy()
    await waitFor(() => fixture.app.relays.counts().waiting === 0, 2000, 'alice\'s side to go')
    const late = await rawUpgrade(url, id, { token: bob.token })
    expect(late.status).toBe(410)
    expect(JSON.parse(late.body)).toMatchObject({ code: 'PUNCH_ERR_RELAY_ENDED', message: expect.stringContaining('(reset)') })
    // And alice cannot come back on the same introduction either.
    expect((await rawUpgrade(url, id, { token: alice.token })).status).toBe(409)
  })

  it('does not move the caller\'s observed endpoint, nor release its held poll', async () => {
    const fixture = await relayServer()
    const { app, url, alice, bob } = fixture
    const id = await fixture.introduce(alice, bob)
    const poll = fetch(`${url}/v1/peers/bob/inbox?after=1&wait=2`, { headers: bearer(bob) }).then(async (response) => ({ at: Date.now(), body: await response.json() }))
    await waitFor(() => app.inboxWaiters.size === 1, 2000, 'bob\'s poll to be held')
    // The poll moved bob's observed endpoint to its connection (the peer's one connection): the attach must leave it there.
    const polling = app.liveRegistrations.peer('bob')!.publicPort
    const started = Date.now()
    const attached = await rawUpgrade(url, id, { token: bob.token })
    expect(attached.status).toBe(101)
    expect(polling).not.toBe(attached.socket.localPort)
    expect(app.liveRegistrations.peer('bob')!.publicPort).toBe(polling)
    const answered = await poll
    expect(answered.at - started).toBeGreaterThan(1500) // held to its wait, not released by the attach
    attached.socket.destroy()
  })

  it('counts relayed connections against the connections of their address, for as long as they last', async () => {
    const fixture = await relayServer({ maxConnectionsPerAddress: 2 })
    const { url, alice, bob, carol } = fixture
    const id = await fixture.introduce(alice, bob)
    const a = await rawUpgrade(url, id, { token: alice.token })
    const b = await rawUpgrade(url, id, { token: bob.token })
    expect(fixture.app.connectionsByAddress.get('127.0.0.1')).toBe(2)
    // A third connection from the address is closed at once, before any answer.
    await expect(rawUpgrade(url, await fixture.introduce(carol, bob), { token: carol.token })).rejects.toThrow('closed before an answer')
    a.socket.end()
    b.socket.end()
    await Promise.all([readAll(a.socket), readAll(b.socket), a.closed, b.closed])
    await waitFor(() => fixture.app.connectionsByAddress.get('127.0.0.1') === undefined, 2000, 'the relayed connections to be released')
    expect((await rawUpgrade(url, await fixture.introduce(carol, bob), { token: carol.token })).status).toBe(101)
  })

  it('takes no attach by HEAD: 426', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const head = await rawUpgrade(fixture.url, id, { token: fixture.alice.token, method: 'HEAD' })
    expect(head.status).toBe(426)
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })
  })

  it('counts the upgrade against the address rate limit like any request, and the relayed bytes not at all', async () => {
    const fixture = await relayServer({ rateLimitPerAddress: 12 })
    const { url, alice, bob } = fixture
    // Registering three peers and introducing took 4 requests; attaching takes 2.
    const id = await fixture.introduce(alice, bob)
    const a = await rawUpgrade(url, id, { token: alice.token })
    const b = await rawUpgrade(url, id, { token: bob.token })
    expect([a.status, b.status]).toEqual([101, 101])
    // A thousand chunks through the relay: no request among them.
    for (let n = 0; n < 1000; n++) a.socket.write(Buffer.alloc(1024, n))
    a.socket.end()
    expect((await readAll(b.socket)).length).toBe(1000 * 1024)
    b.socket.end()
    // 6 requests so far; 5 reads and an introduction make 12, the limit; the 13th, an upgrade, is refused.
    for (let n = 0; n < 5; n++) expect((await fetch(`${url}/v1/peers/alice`, { headers: bearer(alice) })).status).toBe(200)
    const other = await fixture.introduce(alice, bob)
    const limited = await rawUpgrade(url, other, { token: alice.token })
    expect(limited.status).toBe(429)
    expect(JSON.parse(limited.body)).toMatchObject({ code: 'PUNCH_ERR_RATE_LIMITED' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
  })
})
