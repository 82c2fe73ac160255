import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, cpSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from '../../../server/db/migrate.js'
import { openDatabase, BUSY_TIMEOUT_MS } from '../../../server/db/database.js'
import { tempDatabasePath, tempDir } from '../../helpers.js'

function bookkeeping (db: Database.Database): Array<Record<string, unknown>> {
  return db.prepare('SELECT migration_name, checksum, finished_at, applied_steps_count, logs, rolled_back_at FROM _prisma_migrations ORDER BY started_at').all() as Array<Record<string, unknown>>
}

function copyOfMigrations (): string {
  const dir = path.join(tempDir(), 'migrations')
  cpSync(MIGRATIONS_DIR, dir, { recursive: true })
  return dir
}

describe('applyMigrations', () => {
  it('applies the committed migrations once, keeping Prisma\'s bookkeeping', () => {
    const db = new Database(tempDatabasePath())
    const committed = readMigrations()
    expect(committed.length).toBeGreaterThan(0)
    expect(applyMigrations(db)).toEqual(committed.map((migration) => migration.name))
    const rows = bookkeeping(db)
    expect(rows).toHaveLength(committed.length)
    for (const [index, migration] of committed.entries()) {
      const bytes = readFileSync(path.join(MIGRATIONS_DIR, migration.name, 'migration.sql'))
      expect(rows[index]).toMatchObject({
        migration_name: migration.name,
        checksum: createHash('sha256').update(bytes).digest('hex'),
        applied_steps_count: 1,
        logs: null,
        rolled_back_at: null
      })
      expect(rows[index]!.finished_at).not.toBeNull()
    }
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all()
    expect(tables).toEqual(expect.arrayContaining([{ name: 'Introduction' }, { name: 'Registration' }]))
    expect(applyMigrations(db)).toEqual([])
    db.close()
  })

  it('applies a new migration on top of an existing database', () => {
    const dir = copyOfMigrations()
    const db = new Database(tempDatabasePath())
    applyMigrations(db, readMigrations(dir))
    mkdirSync(path.join(dir, '29990101000000_add_note'))
    writeFileSync(path.join(dir, '29990101000000_add_note', 'migration.sql'), 'ALTER TABLE "Registration" ADD COLUMN "note" TEXT;\n')
    expect(applyMigrations(db, readMigrations(dir))).toEqual(['29990101000000_add_note'])
    expect(db.prepare('SELECT note FROM Registration').all()).toEqual([])
    db.close()
  })

  it('records a failed migration and refuses to start again until it is resolved (P3009)', () => {
    const dir = copyOfMigrations()
    mkdirSync(path.join(dir, '29990101000000_broken'))
    writeFileSync(path.join(dir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE "Broken" (;\n')
    const db = new Database(tempDatabasePath())
    expect(() => applyMigrations(db, readMigrations(dir))).toThrow(/migration 29990101000000_broken failed/)
    const failed = bookkeeping(db).find((row) => row.migration_name === '29990101000000_broken')
    expect(failed).toMatchObject({ finished_at: null, applied_steps_count: 0 })
    expect(String(failed!.logs)).toMatch(/syntax error/)
    expect(() => applyMigrations(db, readMigrations(dir))).toThrow(/failed earlier \(P3009\)/)
    db.close()
  })

  it('refuses a committed migration that was edited after it was applied', () => {
    const dir = copyOfMigrations()
    const db = new Database(tempDatabasePath())
    applyMigrations(db, readMigrations(dir))
    const [first] = readMigrations(dir)
    writeFileSync(path.join(dir, first!.name, 'migration.sql'), first!.sql + '\n-- edited\n')
    expect(() => applyMigrations(db, readMigrations(dir))).toThrow(/was changed after it was applied/)
    db.close()
  })

  it('refuses a database written by a newer version', () => {
    const dir = copyOfMigrations()
    mkdirSync(path.join(dir, '29990101000000_future'))
    writeFileSync(path.join(dir, '29990101000000_future', 'migration.sql'), 'SELECT 1;\n')
    const db = new Database(tempDatabasePath())
    applyMigrations(db, readMigrations(dir))
    expect(() => applyMigrations(db)).toThrow(/does not know/)
    db.close()
  })
})

describe('openDatabase', () => {
  it('creates the file and its folder, in WAL mode, with crash-safe commits, foreign keys and a busy timeout', async () => {
    const databasePath = path.join(tempDir(), 'nested', 'folder', 'punchline.db')
    const { prisma, migrationsApplied } = await openDatabase(databasePath)
    try {
      expect(migrationsApplied).toEqual(readMigrations().map((migration) => migration.name))
      const pragma = async (name: string): Promise<unknown> => Object.values((await prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(`PRAGMA ${name}`))[0]!)[0]
      expect(await pragma('journal_mode')).toBe('wal')
      expect(Number(await pragma('synchronous'))).toBe(1) // NORMAL: durable against process crashes in WAL mode
      expect(Number(await pragma('foreign_keys'))).toBe(1)
      expect(Number(await pragma('busy_timeout'))).toBe(BUSY_TIMEOUT_MS)
    } finally {
      await prisma.$disconnect()
    }
    const again = await openDatabase(databasePath)
    expect(again.migrationsApplied).toEqual([])
    await again.prisma.$disconnect()
  })
})
