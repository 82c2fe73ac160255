// /v1/challenges: a fresh challenge for a registration with a key, which
// signs it to prove it holds the private key its id is bound to.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CHALLENGE_TTL_SECONDS, ChallengeResponse, errorResponses } from '@punchline/protocol'

const challenges: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/challenges', {
    onRequest: app.requireApiKey,
    schema: {
      tags: ['peers'],
      operationId: 'createChallenge',
      summary: 'Get a challenge to sign for a registration with a key',
      description: `A random challenge, good for one registration within ${CHALLENGE_TTL_SECONDS} s on this server instance ` +
        '(send the registration on the same connection when several instances share a database). ' +
        'Servers configured with API keys need one in an "X-API-Key" header here too.',
      security: [{}, { apiKeyAuth: [] }],
      response: { 201: ChallengeResponse, ...errorResponses(401, 429) }
    }
  }, async (request, reply) => {
    const { challenge, expiresAt } = app.challenges.issue()
    reply.code(201)
    return { challenge, expiresAt: expiresAt.toISOString() }
  })
}

export default challenges
