// The PostgreSQL schema and its migrations: the same models as the SQLite
// schema, and migrations that build exactly what the schema describes
// (checked by Prisma's schema engine on a throwaway cluster).
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { diffMigrationsToSchema, POSTGRES, SCHEMA_PATH } from '../../prisma/engine.js'
import { tempDir } from '../helpers.js'
import { startTestPostgres } from '../postgres.js'

/** The models of a schema file: everything from the first model on. */
function models (schemaPath: string): string {
  const schema = readFileSync(schemaPath, 'utf8')
  return schema.slice(schema.indexOf('\nmodel ') + 1)
}

describe('the PostgreSQL schema', () => {
  it('has the same models as the SQLite schema', () => {
    expect(models(POSTGRES.schemaPath)).toBe(models(SCHEMA_PATH))
  })
})

const postgres = await startTestPostgres()

describe.skipIf(postgres.skipReason !== undefined)('prisma/postgresql/migrations and its schema', () => {
  it('agree: replaying the migrations yields the schema (no drift)', async () => {
    const drift = await diffMigrationsToSchema(POSTGRES.migrationsDir, POSTGRES.schemaPath, await postgres.database())
    expect(drift, `the PostgreSQL schema has changes no migration covers; run "npm run migration:new -- <name>":\n${drift}`).toBe('')
  })

  it('would be caught disagreeing: a field added to the schema alone shows up as drift', async () => {
    const schemaPath = path.join(tempDir(), 'schema.prisma')
    copyFileSync(POSTGRES.schemaPath, schemaPath)
    writeFileSync(schemaPath, readFileSync(schemaPath, 'utf8').replace('  ttlSeconds       Int\n', '  ttlSeconds       Int\n  note             String?\n'))
    const drift = await diffMigrationsToSchema(POSTGRES.migrationsDir, schemaPath, await postgres.database())
    expect(drift).toMatch(/ALTER TABLE "Registration" ADD COLUMN\s+"note" TEXT/)
  })
})
