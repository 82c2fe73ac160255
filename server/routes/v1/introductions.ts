// /v1/introductions: ask to be introduced to a peer, and read an introduction
// one is part of. Storing an introduction wakes the target's held long-poll.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { caller } from '../../plugins/authentication.js'
import { introductionView, mappingPairOfIntroduction, sideOf } from '../../introductions/introductions.js'
import { bearerAuth, errorResponses, IntroduceBody, Introduction, IntroductionParams, PunchReport, PunchReportBody } from '@punchline/protocol'
import { reportView } from '../../punch-reports/punch-reports.js'

const introductions: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/introductions', {
    onRequest: app.authenticate,
    preHandler: app.limitIntroduction,
    schema: {
      tags: ['introductions'],
      operationId: 'introduce',
      summary: 'Be introduced to a peer',
      description: 'Stores an introduction with a fresh shared secret, answers with the target\'s public and private endpoints, ' +
        'and delivers the mirror image (the caller\'s endpoints, same id and secret) to the target\'s inbox.',
      security: bearerAuth,
      body: IntroduceBody,
      response: { 201: Introduction, ...errorResponses(401, 404, 413, 415, 429) }
    }
  }, async (request, reply) => {
    const row = await app.introductions.introduce(caller(request), request.body.target)
    app.punchMetrics.introductionsCreated.inc()
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
      response: { 200: Introduction, ...errorResponses(401, 403, 404, 414, 429) }
    }
  }, async (request) => {
    const { introductionId } = request.params
    const { row, role } = sideOf(await app.introductions.findLive(introductionId), introductionId, caller(request).peerId)
    return introductionView(row, role)
  })

  app.post('/introductions/:introductionId/outcome', {
    onRequest: app.authenticate,
    schema: {
      tags: ['introductions'],
      operationId: 'reportOutcome',
      summary: 'Report how the caller\'s punch for an introduction ended',
      description: 'Each peer of an introduction may report once (409 after that). Reports feed the success statistics ' +
        '(`GET /v1/stats/punches`, and `/metrics`), counted under the pair of mappings the introduction carries, and are kept for 7 days. An introduction can be reported until it is swept, ' +
        'shortly after it expires. `via` and `path` are required for `connected` and refused for `failed`.',
      security: bearerAuth,
      params: IntroductionParams,
      body: PunchReportBody,
      response: { 201: PunchReport, ...errorResponses(401, 403, 404, 409, 413, 414, 415, 429) }
    }
  }, async (request, reply) => {
    const { introductionId } = request.params
    const peerId = caller(request).peerId
    const { row } = sideOf(await app.introductions.find(introductionId), introductionId, peerId)
    const mappings = mappingPairOfIntroduction(row)
    const report = await app.punchReports.record(introductionId, peerId, request.body, mappings)
    app.punchMetrics.recordReport(request.body, mappings)
    reply.code(201)
    return reportView(report)
  })
}

export default introductions
