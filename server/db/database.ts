// Opens punchline's database: a SQLite file (created, switched to WAL and
// migrated; the embedded default) or a PostgreSQL database given by URL
// (migrated; for several instances), and hands out a Prisma client on the
// matching driver adapter (no Prisma engine binary involved).
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'
import { PrismaClient as PostgresPrismaClient } from '../generated/prisma-postgresql/client.js'
import { applyMigrations } from './migrate.js'
import { applyPostgresMigrations } from './migrate-postgres.js'
import { cachingStatements } from './statement-cache.js'

/** How long a statement waits for a lock held by another connection. */
export const BUSY_TIMEOUT_MS = 5000
/**
 * PostgreSQL connections per instance. Group commit keeps one transaction in
 * flight at a time; the rest serve inbox reads and write-behind flushes.
 */
export const POSTGRES_POOL_SIZE = 8

export type Dialect = 'sqlite' | 'postgresql'

export interface OpenedDatabase {
  /**
   * Typed as the SQLite client: both are generated from the same models, so
   * their model APIs agree; raw SQL that differs asks `dialect`.
   */
  prisma: PrismaClient
  dialect: Dialect
  /** Migrations applied by this call (empty when the database was up to date). */
  migrationsApplied: string[]
}

import { isPostgresUrl } from './url.js'

export { isPostgresUrl, describeLocation } from './url.js'

/**
 * WAL with synchronous=NORMAL: a commit is written to the WAL before the 2xx,
 * so it survives a crash or SIGKILL of the server process; only an OS crash
 * or power loss can take the last commits since a checkpoint. FULL adds an
 * fsync to every commit, which bounded the API at ~1,300 registrations/s and
 * ~290 introductions/s (bench/optimizations.md) for durability that
 * introductions, which expire in seconds, do not need.
 */
const CONNECTION_PRAGMAS = ['PRAGMA synchronous = NORMAL', 'PRAGMA foreign_keys = ON']

async function openSqlite (databasePath: string): Promise<OpenedDatabase> {
  mkdirSync(path.dirname(databasePath), { recursive: true })
  const setup = new Database(databasePath, { timeout: BUSY_TIMEOUT_MS })
  let migrationsApplied: string[]
  try {
    setup.pragma('journal_mode = WAL') // persistent: recorded in the file
    migrationsApplied = applyMigrations(setup)
  } finally {
    setup.close()
  }

  const adapter = cachingStatements(new PrismaBetterSqlite3({ url: databasePath, timeout: BUSY_TIMEOUT_MS }, { timestampFormat: 'unixepoch-ms' }))
  const prisma = new PrismaClient({ adapter })
  await prisma.$connect()
  for (const pragma of CONNECTION_PRAGMAS) await prisma.$executeRawUnsafe(pragma)
  return { prisma, dialect: 'sqlite', migrationsApplied }
}

async function openPostgres (url: string): Promise<OpenedDatabase> {
  // Migrations run as scripts on a plain connection (several statements per file), before Prisma opens its pool.
  const setup = new pg.Client({ connectionString: url })
  await setup.connect()
  let migrationsApplied: string[]
  try {
    migrationsApplied = await applyPostgresMigrations(setup)
  } finally {
    await setup.end()
  }
  const adapter = new PrismaPg({ connectionString: url, max: POSTGRES_POOL_SIZE })
  const prisma = new PostgresPrismaClient({ adapter }) as unknown as PrismaClient
  await prisma.$connect()
  return { prisma, dialect: 'postgresql', migrationsApplied }
}

export async function openDatabase (location: string): Promise<OpenedDatabase> {
  return isPostgresUrl(location) ? await openPostgres(location) : await openSqlite(location)
}
