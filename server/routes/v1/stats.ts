// /v1/stats/punches: success statistics of punches, from the peers' reports.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, PunchStats, STATS_WINDOW_DEFAULT_SECONDS, StatsQuery } from '@punchline/protocol'

const stats: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/stats/punches', {
    onRequest: app.requireMetricsToken,
    schema: {
      tags: ['stats'],
      operationId: 'getPunchStats',
      summary: 'Punch success statistics',
      description: 'Aggregates the outcome reports of the last `windowSeconds`: how many punches connected or failed, ' +
        'by via, path and error code, with the median and p95 time to connect. Needs no token; it holds no per-peer data.',
      querystring: StatsQuery,
      response: { 200: PunchStats, ...errorResponses(401, 429, 503) }
    }
  }, async (request) => await app.punchReports.stats(request.query.windowSeconds ?? STATS_WINDOW_DEFAULT_SECONDS))
}

export default stats
