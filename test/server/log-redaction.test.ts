// Bearer tokens and introduction secrets never reach the logs, at any level,
// on success and error paths alike.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { bearer, buildTestApp, register } from '../helpers.js'

describe('logs', () => {
  it('carry neither tokens nor introduction secrets', async () => {
    let logged = ''
    const stream = new Writable({ write (chunk: Buffer, _encoding, done) { logged += chunk.toString(); done() } })
    const app = await buildTestApp({ logger: { level: 'trace', stream } })
    try {
      const alice = await register(app, { id: 'alice' })
      const bob = await register(app, { id: 'bob' })
      const introduction = (await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(alice), payload: { target: 'bob' } })).json()
      await app.inject({ method: 'GET', url: '/v1/peers/bob/inbox?wait=0', headers: bearer(bob) })
      await app.inject({ method: 'GET', url: `/v1/introductions/${introduction.id as string}`, headers: bearer(bob) })
      // Error paths: a wrong peer, a bad body with a token, a renewal without the token, an unknown token.
      await app.inject({ method: 'GET', url: '/v1/peers/bob', headers: bearer(alice) })
      await app.inject({ method: 'PATCH', url: '/v1/peers/alice', headers: bearer(alice), payload: { ttlSeconds: 'x' } })
      await app.inject({ method: 'POST', url: '/v1/peers', payload: { id: 'alice', privateEndpoints: [] } })
      await app.inject({ method: 'GET', url: '/v1/peers/alice', headers: { authorization: `Bearer ${alice.token.slice(0, -1)}x` } })

      expect(logged.split('\n').length).toBeGreaterThan(10) // the logger did log these requests
      for (const secret of [alice.token, bob.token, introduction.secret as string, alice.token.slice(3, 20)]) {
        expect(logged).not.toContain(secret)
      }
    } finally {
      await app.close()
    }
  })
})
