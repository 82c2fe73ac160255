// Decorates the app with the Prisma client of punchline's database and
// disconnects it when the app closes. Routes reach it only through the
// registration and introduction modules.
import fp from 'fastify-plugin'
import type { PrismaClient } from '../generated/prisma/client.js'
import { openDatabase } from '../db/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
  }
}

export interface DatabasePluginOptions {
  databasePath: string
}

export default fp<DatabasePluginOptions>(async function database (app, { databasePath }) {
  const { prisma, migrationsApplied } = await openDatabase(databasePath)
  if (migrationsApplied.length > 0) app.log.info({ migrations: migrationsApplied, databasePath }, 'applied database migrations')
  app.decorate('prisma', prisma)
  app.addHook('onClose', async () => { await prisma.$disconnect() })
}, { name: 'database' })
