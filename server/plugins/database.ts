// Decorates the app with the Prisma client of punchline's database (SQLite
// file or PostgreSQL URL) and which of the two it is, and disconnects it when
// the app closes. Routes reach it only through the domain modules.
import fp from 'fastify-plugin'
import type { PrismaClient } from '../generated/prisma/client.js'
import { describeLocation, openDatabase, type Dialect } from '../db/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
    database: { dialect: Dialect, location: string }
  }
}

export interface DatabasePluginOptions {
  /** A SQLite file's path, or a postgresql:// URL. */
  databasePath: string
}

export default fp<DatabasePluginOptions>(async function database (app, { databasePath }) {
  const { prisma, dialect, migrationsApplied } = await openDatabase(databasePath)
  if (migrationsApplied.length > 0) app.log.info({ migrations: migrationsApplied, database: describeLocation(databasePath) }, 'applied database migrations')
  app.decorate('prisma', prisma)
  app.decorate('database', { dialect, location: databasePath })
  app.addHook('onClose', async () => { await prisma.$disconnect() })
}, { name: 'database' })
