// Group commits of two instances on one PostgreSQL database change the same
// registrations in opposite orders. Without the rows locked first (one
// statement, peer id order) that is a deadlock, which PostgreSQL breaks after
// deadlock_timeout (1 s) by aborting one side; with them, one waits for the other.
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase, type OpenedDatabase } from '../../../server/db/database.js'
import { GroupCommit, type LockRows } from '../../../server/db/group-commit.js'
import { lockRegistrations } from '../../../server/registrations/row-locks.js'
import { startTestPostgres } from '../../postgres.js'

const postgres = await startTestPostgres()

/** Resolves when both sides arrived, or after `ms` (a side that is waiting for a lock never arrives). */
function meeting (ms: number): () => Promise<void> {
  let arrived = 0
  let release: () => void = () => {}
  const met = new Promise<void>((resolve) => { release = resolve })
  return async () => {
    if (++arrived === 2) release()
    await Promise.race([met, new Promise((resolve) => setTimeout(resolve, ms))])
  }
}

describe.skipIf(postgres.skipReason !== undefined)('group commit row locks on PostgreSQL', () => {
  const opened: OpenedDatabase[] = []
  afterEach(async () => { for (const { prisma } of opened.splice(0)) await prisma.$disconnect() })

  /** Two instances' group commits, each changing the registrations it is given in that order, meeting the other after the first change. */
  async function opposite (lockRows: LockRows | undefined): Promise<{ results: PromiseSettledResult<unknown>[], deadlocks: number }> {
    const database = await openDatabase(await postgres.database())
    opened.push(database)
    const { prisma } = database
    const now = new Date()
    for (const peerId of ['a', 'b']) {
      await prisma.registration.create({
        data: { peerId, tokenHash: `hash-${peerId}`, publicAddress: '203.0.113.1', addressKey: '203.0.113.1', publicPort: 1, privateEndpoints: '[]', ttlSeconds: 60, createdAt: now, refreshedAt: now, expiresAt: new Date(now.getTime() + 60_000) }
      })
    }
    const deadlocks = async (): Promise<number> => Number((await prisma.$queryRaw<Array<{ deadlocks: bigint }>>`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`)[0]!.deadlocks)
    const before = await deadlocks()
    const meet = meeting(500)
    const instances = [new GroupCommit(prisma, lockRows), new GroupCommit(prisma, lockRows)]
    const changes = instances.map((commit) => commit.kind('change', async (tx, orders: string[][]) => {
      for (const order of orders) {
        for (const [index, peerId] of order.entries()) {
          await tx.$executeRaw`UPDATE "Registration" SET "publicPort" = "publicPort" + 1 WHERE "peerId" = ${peerId}`
          if (index === 0) await meet()
        }
      }
      return orders.map(() => ({ value: undefined }))
    }, (order) => order))
    const results = await Promise.allSettled([changes[0]!(['a', 'b']), changes[1]!(['b', 'a'])])
    return { results, deadlocks: await deadlocks() - before }
  }

  it('deadlocks without the locks (the case they exist for)', async () => {
    const { results, deadlocks } = await opposite(undefined)
    expect(deadlocks).toBe(1)
    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected'])
  })

  it('commits both, one after the other, with the rows locked first', async () => {
    const { results, deadlocks } = await opposite(lockRegistrations)
    expect(deadlocks).toBe(0)
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled'])
  })
})
