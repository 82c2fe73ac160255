// Optional deployment-wide API keys: when the server is given some, registering
// (new or renewed) needs one in an X-API-Key header. Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { API_KEY_HEADER } from '@punchline/protocol'
import { errors } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    requireApiKey: (request: FastifyRequest) => Promise<void>
  }
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest()

export default fp<{ apiKeys: string[] }>(async function apiKeys (app, { apiKeys }) {
  const accepted = apiKeys.map(digest)
  app.decorate('requireApiKey', async (request: FastifyRequest) => {
    if (accepted.length === 0) return
    const presented = request.headers[API_KEY_HEADER]
    if (typeof presented !== 'string') throw new errors.API_KEY_INVALID()
    const candidate = digest(presented)
    // Check every key, so the time taken does not tell which one (or whether any) matched.
    let matched = false
    for (const key of accepted) matched = timingSafeEqual(key, candidate) || matched
    if (!matched) throw new errors.API_KEY_INVALID()
  })
}, { name: 'api-keys' })
