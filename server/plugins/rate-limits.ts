// Request-rate limits (@fastify/rate-limit), one minute windows: every request
// counts against its source address, and authenticated requests also against
// their peer (`limitPeer`, run by `authenticate` once the token is resolved).
// Exceeding either answers 429 with Retry-After, from the error table.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import { normalizeAddress } from '../endpoint.js'

const WINDOW_MS = 60_000

declare module 'fastify' {
  interface FastifyInstance {
    limitPeer: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export interface RateLimitsOptions {
  perAddress: number
  perPeer: number
}

export default fp<RateLimitsOptions>(async function rateLimits (app, { perAddress, perPeer }) {
  const exceeded = (scope: string) => (_request: FastifyRequest, context: { max: number, ttl: number }) =>
    new errors.RATE_LIMITED(scope, context.max, Math.ceil(context.ttl / 1000))

  await app.register(rateLimit, {
    global: true,
    max: perAddress,
    timeWindow: WINDOW_MS,
    // The TCP source, like the observed endpoint (never a forwarded header).
    keyGenerator: (request) => normalizeAddress(request.socket.remoteAddress ?? request.ip),
    errorResponseBuilder: exceeded('address')
  })
  const limitPeer = app.rateLimit({
    max: perPeer,
    timeWindow: WINDOW_MS,
    keyGenerator: (request) => `peer:${request.registration?.peerId ?? ''}`,
    errorResponseBuilder: exceeded('peer')
  })
  app.decorate('limitPeer', async (request: FastifyRequest, reply: FastifyReply) => { await limitPeer.call(app, request, reply) })
}, { name: 'rate-limits' })
