// The SQLite adapter's statements kept across queries (server/db/statement-cache.ts):
// each SQL text is prepared once while it stays among the most recent, every use
// binds its own parameters, and transactions work through it.
import Database from 'better-sqlite3'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { PrismaClient } from '../../../server/generated/prisma/client.js'
import { openDatabase } from '../../../server/db/database.js'
import { cachingStatements } from '../../../server/db/statement-cache.js'
import { tempDatabasePath } from '../../helpers.js'

describe('cachingStatements', () => {
  let prepared: string[]
  const clients: Array<{ $disconnect: () => Promise<void> }> = []

  beforeEach(() => {
    prepared = []
    const prepare = Database.prototype.prepare
    // Every statement better-sqlite3 really prepares, by SQL text.
    vi.spyOn(Database.prototype, 'prepare').mockImplementation(function (this: Database.Database, sql: string) {
      prepared.push(sql)
      return prepare.call(this, sql)
    })
  })

  afterEach(async () => {
    vi.restoreAllMocks()
    for (const client of clients.splice(0)) await client.$disconnect()
  })

  const timesPrepared = (sql: string): number => prepared.filter((text) => text === sql).length

  async function client (size?: number): Promise<PrismaClient> {
    const prisma = new PrismaClient({ adapter: cachingStatements(new PrismaBetterSqlite3({ url: tempDatabasePath() }), size) })
    clients.push(prisma)
    await prisma.$connect()
    return prisma
  }

  it('prepares a query once and binds each use to its own parameters', async () => {
    const prisma = await client()
    const values = []
    for (let n = 1; n <= 5; n++) values.push(await prisma.$queryRaw<Array<{ n: bigint }>>`SELECT ${n} + 1 AS n`)
    expect(values.map(([row]) => Number(row!.n))).toEqual([2, 3, 4, 5, 6])
    expect(timesPrepared('SELECT ? + 1 AS n')).toBe(1)
  })

  it('keeps the most recently used statements only', async () => {
    const prisma = await client(2)
    for (const sql of ['SELECT 1', 'SELECT 2', 'SELECT 1', 'SELECT 3', 'SELECT 2']) await prisma.$queryRawUnsafe(sql)
    // SELECT 1 was used again before SELECT 3 came, so SELECT 2 went first, and was prepared again.
    expect(timesPrepared('SELECT 1')).toBe(1)
    expect(timesPrepared('SELECT 2')).toBe(2)
    expect(timesPrepared('SELECT 3')).toBe(1)
  })

  it('serves the server\'s database: models, transactions and a rollback', async () => {
    const { prisma } = await openDatabase(tempDatabasePath())
    clients.push(prisma)
    const row = (peerId: string) => ({
      peerId, tokenHash: `hash-${peerId}`, publicAddress: '203.0.113.1', addressKey: '203.0.113.1', publicPort: 4000, privateEndpoints: '[]',
      ttlSeconds: 60, createdAt: new Date(), refreshedAt: new Date(), expiresAt: new Date(Date.now() + 60_000)
    })
    await prisma.$transaction(async (tx) => { await tx.registration.create({ data: row('one') }) })
    await expect(prisma.$transaction(async (tx) => {
      await tx.registration.create({ data: row('two') })
      throw new Error('rolled back')
    })).rejects.toThrow('rolled back')
    await prisma.$transaction(async (tx) => { await tx.registration.create({ data: row('three') }) })
    expect((await prisma.registration.findMany({ orderBy: { peerId: 'asc' } })).map((registration) => registration.peerId)).toEqual(['one', 'three'])
    expect(timesPrepared('BEGIN')).toBe(1)
  })

  it('fails at connect, not on a query, when the adapter no longer exposes its connection', async () => {
    const factory = new PrismaBetterSqlite3({ url: tempDatabasePath() })
    const connect = factory.connect.bind(factory)
    vi.spyOn(factory, 'connect').mockImplementation(async () => Object.assign(await connect(), { client: undefined }))
    await expect(cachingStatements(factory).connect()).rejects.toThrow(/statement cache cannot attach/)
  })
})
