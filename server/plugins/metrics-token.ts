// An optional deployment token for /metrics and /v1/stats/*: when the server
// has one, they answer only requests that carry it as a bearer token
// (Prometheus: `authorization: { credentials: TOKEN }`). Compared in
// constant time. Without one, both are open, as aggregate counts only.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import { bearerToken } from './authentication.js'

declare module 'fastify' {
  interface FastifyInstance {
    requireMetricsToken: (request: FastifyRequest) => Promise<void>
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

export default fp<{ metricsToken: string | undefined }>(async function metricsToken (app, { metricsToken }) {
  const expected = metricsToken === undefined ? undefined : digest(metricsToken)
  app.decorate('requireMetricsToken', async (request: FastifyRequest) => {
    if (expected === undefined) return
    let presented: string | undefined
    try {
      presented = bearerToken(request)
    } catch {}
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) throw new errors.METRICS_TOKEN_INVALID()
  })
}, { name: 'metrics-token' })
