// `npm run migration:new -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql
// with the SQL that brings the committed migrations up to schema.prisma.
// Replaces `prisma migrate dev`, whose native engine cannot be downloaded here.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { diffMigrationsToSchema } from './engine.js'
import { MIGRATIONS_DIR } from '../server/db/migrate.js'

const name = process.argv[2]
if (name === undefined || !/^[a-z0-9_]{1,60}$/.test(name)) {
  console.error('usage: npm run migration:new -- <name>   (name: a-z 0-9 _)')
  process.exit(2)
}
const sql = await diffMigrationsToSchema()
if (sql.trim() === '') {
  console.log('schema.prisma and prisma/migrations agree: no migration needed')
} else {
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14)
  const dir = path.join(MIGRATIONS_DIR, `${stamp}_${name}`)
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'migration.sql'), sql)
  console.log(`wrote ${path.relative(process.cwd(), dir)}/migration.sql`)
}
