// Prisma CLI configuration. The server applies migrations itself at start-up
// (server/db/migrate.ts); the CLI is only used to generate the client.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' }
})
