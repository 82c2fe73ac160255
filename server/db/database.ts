// Opens punchline's SQLite database: creates the file, switches it to WAL,
// applies committed migrations, then hands out a Prisma client on the
// better-sqlite3 driver adapter (no Prisma engine binary involved).
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaClient } from '../generated/prisma/client.js'
import { applyMigrations } from './migrate.js'

/** How long a statement waits for a lock held by another connection. */
export const BUSY_TIMEOUT_MS = 5000

export interface OpenedDatabase {
  prisma: PrismaClient
  /** Migrations applied by this call (empty when the file was up to date). */
  migrationsApplied: string[]
}

/**
 * WAL with synchronous=NORMAL: a commit is written to the WAL before the 2xx,
 * so it survives a crash or SIGKILL of the server process; only an OS crash
 * or power loss can take the last commits since a checkpoint. FULL adds an
 * fsync to every commit, which bounded the API at ~1,300 registrations/s and
 * ~290 introductions/s (bench/optimizations.md) for durability that
 * introductions, which expire in seconds, do not need.
 */
const CONNECTION_PRAGMAS = ['PRAGMA synchronous = NORMAL', 'PRAGMA foreign_keys = ON']

export async function openDatabase (databasePath: string): Promise<OpenedDatabase> {
  mkdirSync(path.dirname(databasePath), { recursive: true })

  const setup = new Database(databasePath, { timeout: BUSY_TIMEOUT_MS })
  let migrationsApplied: string[]
  try {
    setup.pragma('journal_mode = WAL') // persistent: recorded in the file
    migrationsApplied = applyMigrations(setup)
  } finally {
    setup.close()
  }

  const adapter = new PrismaBetterSqlite3({ url: databasePath, timeout: BUSY_TIMEOUT_MS }, { timestampFormat: 'unixepoch-ms' })
  const prisma = new PrismaClient({ adapter })
  await prisma.$connect()
  for (const pragma of CONNECTION_PRAGMAS) await prisma.$executeRawUnsafe(pragma)
  return { prisma, migrationsApplied }
}
