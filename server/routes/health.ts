// GET /health: liveness and readiness in one (the database answers a query).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../errors.js'
import { errorResponses, Health } from '@punchline/protocol'

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    // Liveness checks come from a few addresses, often; no address limit applies.
    config: { rateLimit: false },
    schema: {
      tags: ['health'],
      operationId: 'getHealth',
      summary: 'Liveness and readiness',
      description: 'Answers 200 when the server is up and its database answers; 503 otherwise.',
      response: { 200: Health, ...errorResponses(503) }
    }
  }, async () => {
    try {
      await app.prisma.$queryRawUnsafe('SELECT 1')
    } catch (error) {
      throw new errors.UNAVAILABLE(`database: ${(error as Error).message}`)
    }
    return { status: 'ok' as const, database: 'ok' as const, heldPolls: app.inboxWaiters.size, uptimeSeconds: process.uptime() }
  })
}

export default health
