// The database file is the state: registrations and pending introductions
// survive a restart of the server on the same file.
import { describe, expect, it } from 'vitest'
import { bearer, buildTestApp, register, tempDatabasePath } from '../helpers.js'

describe('persistence', () => {
  it('delivers an introduction stored before the server stopped, after it starts again on the same file', async () => {
    const databasePath = tempDatabasePath()
    const first = await buildTestApp({ databasePath })
    const alice = await register(first, { id: 'alice' })
    const bob = await register(first, { id: 'bob', privateEndpoints: [{ address: '10.4.4.4', port: 4444 }] })
    const made = (await first.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })).json()
    await first.close()

    const second = await buildTestApp({ databasePath })
    try {
      const inbox = (await second.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: bearer(bob) })).json()
      expect(inbox.introductions).toHaveLength(1)
      expect(inbox.introductions[0]).toMatchObject({ id: made.id, secret: made.secret, role: 'target', peer: { id: 'alice' } })
      // The tokens survived too: alice is still alice.
      expect((await second.inject({ method: 'GET', url: '/v1/peers/alice', headers: bearer(alice) })).statusCode).toBe(200)
    } finally {
      await second.close()
    }
  })
})
