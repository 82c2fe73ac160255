// /v1/introductions: ask to be introduced to a peer, and read an introduction
// one is part of. Storing an introduction wakes the target's held long-poll.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../errors.js'
import { caller } from '../../plugins/authentication.js'
import { introductionView, roleOf } from '../../introductions/introductions.js'
import { bearerAuth, errorResponses } from '../../schemas/common.js'
import { IntroduceBody, Introduction, IntroductionParams } from '../../schemas/introduction.js'

const introductions: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/introductions', {
    onRequest: app.authenticate,
    schema: {
      tags: ['introductions'],
      operationId: 'introduce',
      summary: 'Be introduced to a peer',
      description: 'Stores an introduction with a fresh shared secret, answers with the target\'s public and private endpoints, ' +
        'and delivers the mirror image (the caller\'s endpoints, same id and secret) to the target\'s inbox.',
      security: bearerAuth,
      body: IntroduceBody,
      response: { 201: Introduction, ...errorResponses(400, 401, 404, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const row = await app.introductions.introduce(caller(request), request.body.target)
    app.inboxWaiters.wake(row.targetId, row)
    reply.code(201)
    return introductionView(row, 'initiator')
  })

  app.get('/introductions/:introductionId', {
    onRequest: app.authenticate,
    schema: {
      tags: ['introductions'],
      operationId: 'getIntroduction',
      summary: 'Read an introduction the caller is part of',
      security: bearerAuth,
      params: IntroductionParams,
      response: { 200: Introduction, ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => {
    const { introductionId } = request.params
    const row = await app.introductions.findLive(introductionId)
    if (row === null) throw new errors.INTRODUCTION_NOT_FOUND(introductionId)
    const peerId = caller(request).peerId
    const role = roleOf(row, peerId)
    if (role === null) throw new errors.NOT_A_PARTICIPANT(peerId, introductionId)
    return introductionView(row, role)
  })
}

export default introductions
