// Ids bound to keys: a registration with a proof (a signed challenge) binds
// its id to the key; the key takes it over even while it is live; another key
// or none gets 409 PUNCH_ERR_PEER_ID_RESERVED while it is live and for the
// reservation period after; a challenge works once; introductions carry keys.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { publicKeyText, registrationMessage } from '@punchline/protocol'
import { bearer, buildTestApp } from '../../../helpers.js'

interface Identity { privateKey: KeyObject, publicKey: string }
const newIdentity = (): Identity => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, publicKey: publicKeyText(publicKey) }
}

describe('ids bound to keys', () => {
  let app: FastifyInstance
  let clock: Date
  beforeEach(async () => {
    clock = new Date('2026-01-01T00:00:00Z')
    app = await buildTestApp({ now: () => clock, idReservationDays: 30 })
  })
  afterEach(async () => { await app.close() })

  async function challenge (): Promise<string> {
    const response = await app.inject({ method: 'POST', url: '/v1/challenges' })
    expect(response.statusCode).toBe(201)
    return response.json().challenge
  }

  async function proofFor (identity: Identity, id: string | undefined, challengeText?: string): Promise<Record<string, string>> {
    const value = challengeText ?? await challenge()
    return { publicKey: identity.publicKey, challenge: value, signature: sign(null, registrationMessage(value, id, identity.publicKey), identity.privateKey).toString('base64url') }
  }

  const registerAs = async (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    await app.inject({ method: 'POST', url: '/v1/peers', headers, payload: { privateEndpoints: [], ...body } })

  it('binds the id to the proven key and shows the key in the registration', async () => {
    const home = newIdentity()
    const response = await registerAs({ id: 'home', proof: await proofFor(home, 'home') })
    expect(response.statusCode).toBe(201)
    expect(response.json()).toMatchObject({ id: 'home', publicKey: home.publicKey })
    const keyless = await registerAs({ id: 'laptop' })
    expect(keyless.json()).toMatchObject({ id: 'laptop', publicKey: null })
  })

  it('binds a generated id: the signature covers an empty id', async () => {
    const someone = newIdentity()
    const response = await registerAs({ proof: await proofFor(someone, undefined) })
    expect(response.statusCode).toBe(201)
    expect(response.json().publicKey).toBe(someone.publicKey)
  })

  it('lets the key take its live id over with a new token (a restart that lost it); the old token stops working', async () => {
    const home = newIdentity()
    const first = (await registerAs({ id: 'home', proof: await proofFor(home, 'home') })).json()
    const again = await registerAs({ id: 'home', proof: await proofFor(home, 'home') })
    expect(again.statusCode).toBe(201)
    expect(again.json().token).not.toBe(first.token)
    expect((await app.inject({ method: 'GET', url: '/v1/peers/home', headers: bearer(first) })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/v1/peers/home', headers: bearer(again.json()) })).statusCode).toBe(200)
  })

  it('refuses another key, or none, with 409 PUNCH_ERR_PEER_ID_RESERVED while the id lives and for the reservation period after it ends', async () => {
    const home = newIdentity()
    const stranger = newIdentity()
    const registered = (await registerAs({ id: 'home', proof: await proofFor(home, 'home') })).json()
    for (const body of [{ id: 'home', proof: await proofFor(stranger, 'home') }, { id: 'home' }]) {
      const refused = await registerAs(body)
      expect(refused.statusCode).toBe(409)
      expect(refused.json()).toMatchObject({ code: 'PUNCH_ERR_PEER_ID_RESERVED', message: expect.stringContaining('"home" is bound to another key until 2026-01-31T00:01:30.000Z') })
    }
    // Deregistered (a graceful restart): the stranger still cannot have it, for 30 days.
    expect((await app.inject({ method: 'DELETE', url: '/v1/peers/home', headers: bearer(registered) })).statusCode).toBe(204)
    clock = new Date('2026-01-20T00:00:00Z')
    await app.registrations.sweep()
    expect((await registerAs({ id: 'home', proof: await proofFor(stranger, 'home') })).json().code).toBe('PUNCH_ERR_PEER_ID_RESERVED')
    // The key itself gets it back at once.
    expect((await registerAs({ id: 'home', proof: await proofFor(home, 'home') })).statusCode).toBe(201)
  })

  it('frees the id once the reservation period is over (and the sweeper removes the reservation)', async () => {
    const home = newIdentity()
    await registerAs({ id: 'home', proof: await proofFor(home, 'home') })
    clock = new Date('2026-01-31T00:01:31Z') // registration ended 00:01:30 on Jan 1, + 30 days
    expect(await app.registrations.sweep()).toBe(1)
    const stranger = newIdentity()
    const taken = await registerAs({ id: 'home', proof: await proofFor(stranger, 'home') })
    expect(taken.statusCode).toBe(201)
    expect(taken.json().publicKey).toBe(stranger.publicKey)
  })

  it('keeps keyless registrations as before: swept at expiry, the id free again', async () => {
    await registerAs({ id: 'laptop' })
    clock = new Date('2026-01-01T00:02:00Z')
    expect(await app.registrations.sweep()).toBe(1)
  })

  it('takes a challenge once, only within its minute, and only with a signature over this id and key', async () => {
    const home = newIdentity()
    const used = await challenge()
    expect((await registerAs({ id: 'home', proof: await proofFor(home, 'home', used) })).statusCode).toBe(201)
    const replayed = await registerAs({ id: 'home', proof: await proofFor(home, 'home', used) })
    expect(replayed.statusCode).toBe(401)
    expect(replayed.json().code).toBe('PUNCH_ERR_CHALLENGE_INVALID')

    const late = await challenge()
    clock = new Date(clock.getTime() + 61_000)
    expect((await registerAs({ id: 'other', proof: await proofFor(home, 'other', late) })).json().code).toBe('PUNCH_ERR_CHALLENGE_INVALID')
    expect((await registerAs({ id: 'other', proof: await proofFor(home, 'other', 'A'.repeat(43)) })).json().code).toBe('PUNCH_ERR_CHALLENGE_INVALID')

    // Signed for another id, or by another key than the one claimed.
    const forAnotherId = await proofFor(home, 'somebody-else')
    const wrongId = await registerAs({ id: 'other', proof: forAnotherId })
    expect(wrongId.statusCode).toBe(401)
    expect(wrongId.json().code).toBe('PUNCH_ERR_SIGNATURE_INVALID')
    const stranger = newIdentity()
    const claimed = { ...(await proofFor(stranger, 'other')), publicKey: home.publicKey }
    expect((await registerAs({ id: 'other', proof: claimed })).json().code).toBe('PUNCH_ERR_SIGNATURE_INVALID')
  })

  it('validates the proof\'s fields and names the one at fault', async () => {
    const home = newIdentity()
    const proof = await proofFor(home, 'home')
    for (const [field, value] of [['publicKey', 'short'], ['signature', 'x'.repeat(10)], ['challenge', '!'.repeat(43)]] as const) {
      const response = await registerAs({ id: 'home', proof: { ...proof, [field]: value } })
      expect(response.statusCode).toBe(400)
      expect(response.json()).toMatchObject({ code: 'PUNCH_ERR_VALIDATION', field: `body/proof/${field}` })
    }
    const missing = await registerAs({ id: 'home', proof: { publicKey: proof.publicKey, challenge: proof.challenge } })
    expect(missing.json()).toMatchObject({ statusCode: 400, field: 'body/proof/signature' })
  })

  it('hands both peers\' keys out in introductions', async () => {
    const home = newIdentity()
    const laptop = newIdentity()
    const homeRegistration = (await registerAs({ id: 'home', proof: await proofFor(home, 'home') })).json()
    const laptopRegistration = (await registerAs({ id: 'laptop', proof: await proofFor(laptop, 'laptop') })).json()
    const introduced = await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(laptopRegistration), payload: { target: 'home' } })
    expect(introduced.json()).toMatchObject({ self: { id: 'laptop', publicKey: laptop.publicKey }, peer: { id: 'home', publicKey: home.publicKey } })
    const inbox = (await app.inject({ method: 'GET', url: '/v1/peers/home/inbox?wait=0', headers: bearer(homeRegistration) })).json()
    expect(inbox.introductions[0]).toMatchObject({ self: { id: 'home', publicKey: home.publicKey }, peer: { id: 'laptop', publicKey: laptop.publicKey } })
  })
})
