// `npm run migration:new -- <name>`: writes <timestamp>_<name>/migration.sql in
// prisma/migrations (SQLite) and prisma/postgresql/migrations (PostgreSQL, on
// a throwaway cluster: lab/postgres.ts), each with the SQL that brings the
// committed migrations up to its schema. Replaces `prisma migrate dev`, whose
// native engine cannot be downloaded here.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { diffMigrationsToSchema, POSTGRES } from './engine.js'
import { MIGRATIONS_DIR } from '../server/db/migrate.js'
import { PostgresCluster } from '../lab/postgres.js'

const name = process.argv[2]
if (name === undefined || !/^[a-z0-9_]{1,60}$/.test(name)) {
  console.error('usage: npm run migration:new -- <name>   (name: a-z 0-9 _)')
  process.exit(2)
}
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14)

function write (label: string, migrationsDir: string, sql: string): void {
  if (sql.trim() === '') {
    console.log(`${label}: schema and migrations agree, no migration needed`)
    return
  }
  const dir = path.join(migrationsDir, `${stamp}_${name}`)
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'migration.sql'), sql)
  console.log(`${label}: wrote ${path.relative(process.cwd(), dir)}/migration.sql`)
}

write('SQLite', MIGRATIONS_DIR, await diffMigrationsToSchema())
const cluster = await PostgresCluster.start()
if (typeof cluster === 'string') {
  console.error(`PostgreSQL: ${cluster}; its migration was not written`)
  process.exit(1)
}
try {
  write('PostgreSQL', POSTGRES.migrationsDir, await diffMigrationsToSchema(POSTGRES.migrationsDir, POSTGRES.schemaPath, await cluster.createDatabase('migration')))
} finally {
  cluster.stop()
}
