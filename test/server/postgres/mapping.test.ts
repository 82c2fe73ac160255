// Mapping verdicts across two instances on one PostgreSQL database: a peer
// registers and polls through one, its probe reaches the other's mapping port
// (DNS round-robin or a balancer can send it there), and the verdict is in the
// database, in the first instance's own copy of the peer (told at the commit),
// and in introductions made through either; the first instance's write-behind
// of liveness does not undo it.
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { bearer, buildTestApp, listenMappingOnLoopback, listenOnLoopback, requestFrom, waitFor } from '../../helpers.js'
import { LIMITS_LIFTED } from '../../../lab/limits-lifted.js'
import { startTestPostgres } from '../../postgres.js'

const postgres = await startTestPostgres()

describe.skipIf(postgres.skipReason !== undefined)('mapping verdicts on two instances of one PostgreSQL database', () => {
  const apps: FastifyInstance[] = []
  afterEach(async () => { for (const app of apps.splice(0)) await app.close() })

  async function instances (): Promise<Array<{ app: FastifyInstance, api: string, mapping: string }>> {
    const databasePath = await postgres.database()
    const started = []
    for (let n = 0; n < 2; n++) {
      const app = await buildTestApp({ ...LIMITS_LIFTED, databasePath })
      apps.push(app)
      started.push({ app, api: await listenOnLoopback(app), mapping: `http://127.0.0.1:${await listenMappingOnLoopback(app)}` })
    }
    return started
  }

  it('makes a verdict judged by one instance visible to the other at once', async () => {
    const [one, two] = await instances()
    const register = async (id: string): Promise<{ token: string, port: number }> => {
      const answer = await requestFrom(`${one!.api}/v1/peers`, { method: 'POST', body: { id, privateEndpoints: [] } })
      expect(answer.status).toBe(201)
      return { token: answer.body.token, port: answer.localPort }
    }
    const alice = await register('alice')
    const bob = await register('bob')
    // Instance one holds both, as it would while they poll there.
    for (const [id, peer] of [['alice', alice], ['bob', bob]] as const) {
      expect((await requestFrom(`${one!.api}/v1/peers/${id}`, { headers: bearer(peer), localPort: peer.port })).body.mapping).toBe('unknown')
    }

    const probed = await requestFrom(`${two!.mapping}/v1/peers/alice/mapping`, { method: 'POST', headers: bearer(alice), localPort: alice.port })
    expect(probed.body).toMatchObject({ mapping: 'independent', publicEndpoint: { port: alice.port } })
    const other = await requestFrom(`${two!.mapping}/v1/peers/bob/mapping`, { method: 'POST', headers: bearer(bob) })
    expect(other.body.mapping).toBe('dependent')

    // In the database, and in instance one's own copies (a notice at the commit, no re-read).
    expect(await one!.app.prisma.registration.findUnique({ where: { peerId: 'alice' } })).toMatchObject({ mapping: 'independent', mappingPort: alice.port })
    await waitFor(() => one!.app.liveRegistrations.peer('alice')?.mapping === 'independent' && one!.app.liveRegistrations.peer('bob')?.mapping === 'dependent', 2000, 'instance one to take the verdicts')
    expect((await requestFrom(`${one!.api}/v1/peers/alice`, { headers: bearer(alice), localPort: alice.port })).body.mapping).toBe('independent')

    // Introductions through either instance carry both.
    const viaOne = await requestFrom(`${one!.api}/v1/introductions`, { method: 'POST', headers: bearer(alice), body: { target: 'bob' }, localPort: alice.port })
    expect(viaOne.body).toMatchObject({ self: { mapping: 'independent' }, peer: { mapping: 'dependent' } })
    const viaTwo = await requestFrom(`${two!.api}/v1/introductions`, { method: 'POST', headers: bearer(bob), body: { target: 'alice' } })
    expect(viaTwo.body).toMatchObject({ self: { mapping: 'dependent' }, peer: { mapping: 'independent' } })

    // Instance one writes its peers' liveness behind: that leaves the verdicts alone.
    await one!.app.liveRegistrations.write()
    const rows = await two!.app.prisma.registration.findMany({ orderBy: { peerId: 'asc' }, select: { peerId: true, mapping: true } })
    expect(rows).toEqual([{ peerId: 'alice', mapping: 'independent' }, { peerId: 'bob', mapping: 'dependent' }])
  })
})
