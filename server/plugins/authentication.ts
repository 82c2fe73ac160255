// Bearer-token authentication. `authenticate` (an onRequest hook) resolves the
// token to a live registration, refreshes it and releases the peer's held
// long-poll (the mapping probe only resolves it); `requirePeer` (a preHandler)
// lets a peer act only on its own /peers/{peerId} resources. A route that
// peers reach on a connection of its own (the relay) neither moves their
// observed endpoint nor releases their poll (the relay, the IPv6 observation).
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import { observedEndpoint } from '../endpoint.js'
import type { RegistrationRow } from '../registrations/registrations.js'
import type { IntroductionRow } from '../introductions/introductions.js'
import type { Ticket } from '../introductions/inbox-waiters.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's registration, set by `authenticate`. */
    registration: RegistrationRow | null
    /** The long-poll's ticket, taken by `authenticate` on routes that hold polls. */
    pollTicket: Ticket<IntroductionRow> | null
  }
  interface FastifyContextConfig {
    /** The route holds a long-poll. */
    holdsPoll?: boolean
    /**
     * Peers call the route on a connection of its own, not on their one
     * connection from the punch port: its source is not their NAT mapping,
     * and no request of theirs waits behind their poll.
     */
    ownConnection?: boolean
  }
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    requirePeer: (request: FastifyRequest) => Promise<void>
  }
}

const BEARER = /^Bearer +(\S+) *$/i

/** The token of an "Authorization: Bearer <token>" header, undefined when absent. */
export function bearerToken (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (header === undefined || header === '') return undefined
  const match = BEARER.exec(header)
  if (match === null) throw new errors.TOKEN_MISSING()
  return match[1]
}

/** The caller's registration; only for routes behind `authenticate`. */
export function caller (request: FastifyRequest): RegistrationRow {
  if (request.registration === null) throw new Error('route is not behind app.authenticate')
  return request.registration
}

export default fp(async function authentication (app) {
  app.decorateRequest('registration', null)
  app.decorateRequest('pollTicket', null)

  app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(request)
    if (token === undefined) throw new errors.TOKEN_MISSING()
    // The mapping probe comes over a connection of its own, to the mapping port, maybe of another instance:
    // it neither moves the observed endpoint nor refreshes (see LiveRegistrations.resolve), nor waits behind a poll.
    // The relay also comes over a connection of its own: it refreshes, but neither moves the endpoint nor ends the poll.
    const probe = request.routeOptions.config.mappingProbe === true
    const ownConnection = request.routeOptions.config.ownConnection === true
    const registration = probe ? await app.registrations.resolve(token) : await app.registrations.authenticate(token, ownConnection ? undefined : observedEndpoint(request.socket))
    if (registration === null) throw new errors.TOKEN_INVALID()
    request.registration = registration
    // One connection per peer: a pipelined request waits behind a held poll, so end the poll.
    if (!probe && !ownConnection) app.inboxWaiters.release(registration.peerId)
    if (request.routeOptions.config.holdsPoll === true) {
      // Taken in the same tick as the release above: every later request of the peer releases this poll.
      const ticket = app.inboxWaiters.enter(registration.peerId)
      request.pollTicket = ticket
      reply.raw.once('close', () => { app.inboxWaiters.leave(ticket) })
    }
    await app.limitPeer(request)
  })

  app.decorate('requirePeer', async (request: FastifyRequest) => {
    const { peerId } = request.params as { peerId: string }
    const self = caller(request).peerId
    if (peerId !== self) throw new errors.FORBIDDEN_PEER(self, peerId)
  })
}, { name: 'authentication', dependencies: ['rendezvous', 'rate-limits'] })
