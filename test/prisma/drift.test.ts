// schema.prisma is the source of truth; the committed migrations must build
// exactly the database it describes. Checked with Prisma's own schema engine.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { diffMigrationsToSchema, SCHEMA_PATH } from '../../prisma/engine.js'
import { MIGRATIONS_DIR } from '../../server/db/migrate.js'
import { tempDir } from '../helpers.js'

describe('prisma/migrations and schema.prisma', () => {
  it('agree: replaying the migrations yields the schema (no drift)', async () => {
    const drift = await diffMigrationsToSchema()
    expect(drift, `schema.prisma has changes no migration covers; run "npm run migration:new -- <name>":\n${drift}`).toBe('')
  })

  it('would be caught disagreeing: a field added to the schema alone shows up as drift', async () => {
    const schemaPath = path.join(tempDir(), 'schema.prisma')
    copyFileSync(SCHEMA_PATH, schemaPath)
    const schema = readFileSync(schemaPath, 'utf8').replace('  ttlSeconds       Int\n', '  ttlSeconds       Int\n  note             String?\n')
    writeFileSync(schemaPath, schema)
    const drift = await diffMigrationsToSchema(MIGRATIONS_DIR, schemaPath)
    expect(drift).toMatch(/ALTER TABLE "Registration" ADD COLUMN "note" TEXT/)
  })
})
