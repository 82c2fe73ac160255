// Request-rate limits, one minute windows. Every request but /health counts
// against its source address (IPv6: its prefix), first of all
// (@fastify/rate-limit, as an app-wide hook, so that no route's own hooks
// run before it); authenticated requests also count against their peer
// (`limitPeer`, run by `authenticate`); introductions against their target,
// their pair, and the target and source address together
// (`limitIntroduction`), so that no initiator or address can fill a target's
// inbox or keep it punching. @fastify/rate-limit applies one limit per
// request, so the others are counted here. Exceeding any answers 429 with
// Retry-After, from the error table.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors, retryAfter } from '../errors.js'
import { addressKey } from '../endpoint.js'

const WINDOW_MS = 60_000

declare module 'fastify' {
  interface FastifyInstance {
    limitPeer: (request: FastifyRequest) => Promise<void>
    /** For POST /v1/introductions, once the caller and the body are known. */
    limitIntroduction: (request: FastifyRequest) => Promise<void>
  }
}

export interface RateLimitsOptions {
  perAddress: number
  perPeer: number
  introductionsPerTarget: number
  introductionsPerPair: number
  introductionsPerAddressAndTarget: number
  ipv6PrefixLength: number
}

/**
 * Requests per key in the current fixed window. The map starts afresh every
 * window, so it holds at most the keys seen in one window.
 */
export class WindowCounter {
  readonly #windowMs: number
  readonly #now: () => number
  #windowStart = -Infinity
  #counts = new Map<string, number>()

  constructor (windowMs: number, now: () => number = Date.now) {
    this.#windowMs = windowMs
    this.#now = now
  }

  /**
   * One request that counts against every limit given (key and max): counted
   * if it is within all of them; otherwise not counted, and the answer is the
   * first limit it exceeds, with the seconds until the next window.
   */
  hit<L extends { key: string, max: number }> (limits: L[]): (L & { retryInSeconds: number }) | undefined {
    const now = this.#now()
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now - (now % this.#windowMs)
      this.#counts = new Map()
    }
    const exceeded = limits.find(({ key, max }) => (this.#counts.get(key) ?? 0) + 1 > max)
    if (exceeded !== undefined) return { ...exceeded, retryInSeconds: Math.max(1, Math.ceil((this.#windowStart + this.#windowMs - now) / 1000)) }
    for (const { key } of limits) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
    return undefined
  }
}

export default fp<RateLimitsOptions>(async function rateLimits (app, options) {
  // The TCP source, like the observed endpoint (never a forwarded header).
  const sourceOf = (request: FastifyRequest): string => addressKey(request.socket.remoteAddress ?? request.ip, options.ipv6PrefixLength)

  await app.register(rateLimit, { global: false })
  const perAddress = app.rateLimit({
    max: options.perAddress,
    timeWindow: WINDOW_MS,
    keyGenerator: sourceOf,
    errorResponseBuilder: (_request, context) => new errors.RATE_LIMITED('address', context.max, Math.ceil(context.ttl / 1000))
  })
  app.addHook('onRequest', async (request, reply) => {
    // Liveness checks come from a few addresses, often: /health is exempt.
    if (request.routeOptions.config.rateLimit === false) return
    await perAddress.call(app, request, reply)
  })

  const counter = new WindowCounter(WINDOW_MS)
  app.decorate('limitPeer', async (request: FastifyRequest) => {
    const exceeded = counter.hit([{ key: `peer:${request.registration?.peerId ?? ''}`, max: options.perPeer }])
    if (exceeded !== undefined) throw retryAfter(new errors.RATE_LIMITED('peer', options.perPeer, exceeded.retryInSeconds), exceeded.retryInSeconds)
  })
  app.decorate('limitIntroduction', async (request: FastifyRequest) => {
    const from = request.registration?.peerId ?? ''
    const { target } = request.body as { target: string }
    const source = sourceOf(request)
    const exceeded = counter.hit([
      { key: `to:${target}`, max: options.introductionsPerTarget, scope: 'from all peers' },
      { key: `pair:${from}>${target}`, max: options.introductionsPerPair, scope: `from peer "${from}"` },
      { key: `address:${source}>${target}`, max: options.introductionsPerAddressAndTarget, scope: `from address ${source}` }
    ])
    if (exceeded !== undefined) {
      throw retryAfter(new errors.INTRODUCTIONS_LIMITED(target, exceeded.scope, exceeded.max, exceeded.retryInSeconds), exceeded.retryInSeconds)
    }
  })
}, { name: 'rate-limits' })
