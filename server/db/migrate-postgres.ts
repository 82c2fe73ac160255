// Applies the committed PostgreSQL migrations (prisma/postgresql/migrations)
// at start-up, with Prisma's bookkeeping as its schema engine keeps it on
// PostgreSQL. Instances starting together take turns: the first applies,
// the others find nothing left to do.
import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { MigrationError, pendingMigrations, POSTGRES_MIGRATIONS_DIR, readMigrations, type LocalMigration, type MigrationRow } from './migrate.js'

/** The advisory lock key Prisma's own `migrate deploy` takes, so that it and punchline never migrate at once. */
const MIGRATION_LOCK_KEY = 72707369

// Prisma's table, as its schema engine creates it for PostgreSQL.
const BOOKKEEPING_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

/** Applies every pending migration on `client` (connected); returns the names applied now. */
export async function applyPostgresMigrations (client: pg.Client, migrations: LocalMigration[] = readMigrations(POSTGRES_MIGRATIONS_DIR)): Promise<string[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
  try {
    await client.query(BOOKKEEPING_DDL)
    const { rows } = await client.query<MigrationRow>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at')
    const pending = pendingMigrations(rows, migrations)
    for (const migration of pending) {
      const id = randomUUID()
      await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)', [id, migration.checksum, migration.name])
      try {
        // PostgreSQL's DDL is transactional: a failed migration leaves nothing half-done behind.
        await client.query(`BEGIN;\n${migration.sql}\nCOMMIT;`)
      } catch (error) {
        await client.query('ROLLBACK')
        await client.query('UPDATE "_prisma_migrations" SET logs = $1 WHERE id = $2', [String(error), id])
        throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`)
      }
      await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id])
    }
    return pending.map((migration) => migration.name)
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
  }
}
