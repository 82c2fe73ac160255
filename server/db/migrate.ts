// Applies the committed migrations at start-up (SQLite: prisma/migrations;
// PostgreSQL: migrate-postgres.ts, prisma/postgresql/migrations), keeping
// Prisma's own bookkeeping (_prisma_migrations) so that `prisma migrate
// status/deploy` elsewhere agrees with what was done here. Needs no Prisma
// engine binary, which this project cannot download.
import { createHash, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import type Database from 'better-sqlite3'
import { PACKAGE_ROOT } from '../package-root.js'

export class MigrationError extends Error {
  readonly code = 'PUNCH_ERR_MIGRATION'
}

export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'prisma', 'migrations')
export const POSTGRES_MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'prisma', 'postgresql', 'migrations')

// Prisma's table, as its schema engine creates it for SQLite.
const BOOKKEEPING_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`

export interface MigrationRow {
  migration_name: string
  checksum: string
  finished_at: number | string | null
  rolled_back_at: number | string | null
}

export interface LocalMigration {
  name: string
  sql: string
  checksum: string
}

export function readMigrations (dir = MIGRATIONS_DIR): LocalMigration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const bytes = readFileSync(path.join(dir, name, 'migration.sql'))
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') }
    })
}

/**
 * The migrations still to apply, after checking what the database recorded:
 * a failed one (P3009), one this version does not know, or one edited since
 * it was applied are refused.
 */
export function pendingMigrations (rows: MigrationRow[], migrations: LocalMigration[]): LocalMigration[] {
  const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null)
  if (failed !== undefined) {
    throw new MigrationError(`migration ${failed.migration_name} failed earlier (P3009); inspect the database, then mark it rolled back before starting again`)
  }
  const applied = new Map(rows.filter((row) => row.rolled_back_at === null).map((row) => [row.migration_name, row.checksum]))
  const known = new Set(migrations.map((migration) => migration.name))
  for (const [name, checksum] of applied) {
    if (!known.has(name)) throw new MigrationError(`the database has migration ${name}, which this version of punchline does not know: it was written by a newer version`)
    if (migrations.find((migration) => migration.name === name)?.checksum !== checksum) {
      throw new MigrationError(`migration ${name} was changed after it was applied (checksum differs); committed migrations must never be edited`)
    }
  }
  return migrations.filter((migration) => !applied.has(migration.name))
}

/** Applies every pending migration; returns the names applied now. */
export function applyMigrations (db: Database.Database, migrations: LocalMigration[] = readMigrations()): string[] {
  db.exec(BOOKKEEPING_DDL)
  const rows = db.prepare('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at').all() as MigrationRow[]
  const pending = pendingMigrations(rows, migrations)
  for (const migration of pending) {
    const id = randomUUID()
    db.prepare('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, 0)')
      .run(id, migration.checksum, migration.name, Date.now())
    try {
      // A script, never a transaction: PRAGMA foreign_keys=OFF in Prisma's table
      // redefinitions is a no-op inside one, and the redefinition would then
      // cascade-delete child rows.
      db.exec(migration.sql)
    } catch (error) {
      db.prepare('UPDATE "_prisma_migrations" SET logs = ? WHERE id = ?').run(String(error), id)
      throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`)
    }
    db.prepare('UPDATE "_prisma_migrations" SET finished_at = ?, applied_steps_count = 1 WHERE id = ?').run(Date.now(), id)
  }
  return pending.map((migration) => migration.name)
}
