// /v1/peers: register, read, update, refresh and deregister a peer, and the
// long-polled inbox of introductions addressed to it.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { checkPrivateEndpoints, observedEndpoint } from '../../endpoint.js'
import { bearerToken, caller } from '../../plugins/authentication.js'
import { introductionView } from '../../introductions/introductions.js'
import { publicEndpointOf, registrationView, type RegistrationRow } from '../../registrations/registrations.js'
import { mappingOf } from '../../registrations/mapping.js'
import { isIpv6Source } from '../../registrations/ipv6.js'
import { errors } from '../../errors.js'
import { bearerAuth, errorResponses, AckBody, AckResponse, Inbox, InboxQuery, Ipv6Observation, MappingObservation, POLL_WAIT_SECONDS, PeerParams, RegisterBody, Registration, RegistrationWithToken, UpdateRegistrationBody, type Registration as RegistrationView } from '@punchline/protocol'

const peers: FastifyPluginAsyncTypebox<{ maxPollWaitSeconds: number }> = async (app, { maxPollWaitSeconds }) => {
  const self = { onRequest: app.authenticate, preHandler: app.requirePeer }
  /** A registration as its peer reads it: with where to probe its mapping, while the mapping port listens. */
  const view = (row: RegistrationRow): RegistrationView => {
    const port = app.mappingPort.port
    return { ...registrationView(row), ...(port !== undefined ? { mappingProbe: { port } } : {}) }
  }

  app.post('/peers', {
    onRequest: app.requireApiKey,
    schema: {
      tags: ['peers'],
      operationId: 'register',
      summary: 'Register a peer (or renew a live registration)',
      description: 'Records the public endpoint this server observes (the source address and port of this request\'s TCP connection) and the private endpoints the peer reports. ' +
        'Answers 201 with a new bearer token, or 200 when a live id is renewed with its token (send it as "Authorization: Bearer <token>"). ' +
        'With a proof of its key (a signed challenge from POST /v1/challenges) the id is bound to the key: the same key takes it over even while it is live, with a new token, ' +
        'and another key gets 409 PUNCH_ERR_PEER_ID_RESERVED until the reservation period after the registration ends is over. ' +
        'Servers configured with API keys also need one in an "X-API-Key" header.',
      security: [{}, ...bearerAuth, { apiKeyAuth: [] }, { apiKeyAuth: [], bearerAuth: [] }],
      body: RegisterBody,
      response: { 200: RegistrationWithToken, 201: RegistrationWithToken, ...errorResponses(401, 403, 409, 413, 415, 429) }
    }
  }, async (request, reply) => {
    checkPrivateEndpoints(request.body.privateEndpoints)
    const { registration, token, created } = await app.registrations.register({
      ...request.body,
      publicEndpoint: observedEndpoint(request.socket),
      token: bearerToken(request)
    })
    // A renewal or a takeover: the polls of what was there before answer now.
    app.inboxWaiters.release(registration.peerId)
    reply.code(created ? 201 : 200)
    return { ...view(registration), token }
  })

  app.get('/peers/:peerId', {
    ...self,
    schema: {
      tags: ['peers'],
      operationId: 'getRegistration',
      summary: 'Read the caller\'s registration (and refresh it)',
      security: bearerAuth,
      params: PeerParams,
      response: { 200: Registration, ...errorResponses(401, 403, 414, 429) }
    }
  }, async (request) => view(caller(request)))

  app.post('/peers/:peerId/refresh', {
    ...self,
    schema: {
      tags: ['peers'],
      operationId: 'refreshRegistration',
      summary: 'Keep the registration alive',
      description: 'Any authenticated request refreshes the registration; this one does nothing else. The observed public endpoint follows the connection of the request.',
      security: bearerAuth,
      params: PeerParams,
      response: { 200: Registration, ...errorResponses(401, 403, 414, 429) }
    }
  }, async (request) => view(caller(request)))

  app.post('/peers/:peerId/mapping', {
    ...self,
    config: { mappingProbe: true },
    schema: {
      tags: ['peers'],
      operationId: 'probeMapping',
      summary: 'Probe the NAT\'s mapping (on the mapping port only)',
      description: 'Send this to the mapping port (`mappingProbe.port` of the registration), on the address the registration\'s connection reached, ' +
        'from the same local port as that connection, over a connection of its own. The server compares the source it sees here with the ' +
        'registration\'s public endpoint: the same address and port make the mapping `independent`, another one `dependent`. ' +
        'A `dependent` verdict is not raised again by probing the same public endpoint. The verdict is in the registration and in every ' +
        'introduction made afterwards. Neither refreshes the registration nor moves its public endpoint. Answered 421 on the API port.',
      security: bearerAuth,
      params: PeerParams,
      response: { 200: MappingObservation, ...errorResponses(401, 403, 414, 421, 429) }
    }
  }, async (request) => {
    if (!app.mappingPort.received(request)) {
      const port = app.mappingPort.port
      throw new errors.MAPPING_PORT_ONLY(port === undefined ? 'which this server does not have' : `port ${port}`)
    }
    const probeEndpoint = observedEndpoint(request.socket)
    const registration = await app.registrations.observeMapping(caller(request), probeEndpoint)
    return { mapping: mappingOf(registration), publicEndpoint: publicEndpointOf(registration), probeEndpoint }
  })

  app.post('/peers/:peerId/ipv6-endpoint', {
    ...self,
    config: { ownConnection: true },
    schema: {
      tags: ['peers'],
      operationId: 'observeIpv6Endpoint',
      summary: 'Have the server observe the peer\'s IPv6 endpoint',
      description: 'Send this over IPv6, from the peer\'s IPv6 punch port, over a connection of its own. The server records the source ' +
        'address and port of that connection as the registration\'s `ipv6Endpoint` (never an address the peer names), which every ' +
        'introduction made afterwards carries, so that the pair can punch over IPv6 too. It holds while the registration\'s public address ' +
        'is the one it had now: send it again after moving. Refreshes the registration, but neither moves its public endpoint nor ends its ' +
        'held poll. Answered 400 `PUNCH_ERR_IPV6_ONLY` over IPv4.',
      security: bearerAuth,
      params: PeerParams,
      response: { 200: Ipv6Observation, ...errorResponses(401, 403, 414, 429) }
    }
  }, async (request) => {
    const source = observedEndpoint(request.socket)
    if (!isIpv6Source(source)) throw new errors.IPV6_ONLY(source.address)
    await app.registrations.observeIpv6(caller(request), source)
    return { ipv6Endpoint: source }
  })

  app.patch('/peers/:peerId', {
    ...self,
    schema: {
      tags: ['peers'],
      operationId: 'updateRegistration',
      summary: 'Change the reported private endpoints or the TTL',
      security: bearerAuth,
      params: PeerParams,
      body: UpdateRegistrationBody,
      response: { 200: Registration, ...errorResponses(401, 403, 413, 414, 415, 429) }
    }
  }, async (request) => {
    checkPrivateEndpoints(request.body.privateEndpoints)
    return view(await app.registrations.update(request.params.peerId, request.body))
  })

  app.delete('/peers/:peerId', {
    ...self,
    schema: {
      tags: ['peers'],
      operationId: 'deregister',
      summary: 'Deregister: end the registration now',
      description: 'The token stops working, the id is free again, and introductions to the peer are refused (404). ' +
        'Introductions it is part of stay readable by the other peer, and reportable, until they expire.',
      security: bearerAuth,
      params: PeerParams,
      response: { 204: Type.Null({ description: 'Deregistered' }), ...errorResponses(401, 403, 413, 414, 415, 429) }
    }
  }, async (request, reply) => {
    await app.registrations.deregister(request.params.peerId)
    return reply.code(204).send(null)
  })

  app.get('/peers/:peerId/inbox', {
    ...self,
    // Not timed by the per-route latency histogram: a held poll's time is the wait it asked for, and timing
    // every idle poll cost ~7% of an idle server's CPU (punchline_polls_held counts the polls held instead).
    config: { holdsPoll: true, disableMetrics: true },
    schema: {
      tags: ['introductions'],
      operationId: 'pollInbox',
      summary: 'Long-poll for introductions to this peer',
      description: 'Returns pending introductions at once; otherwise holds the request until one is made (answered the moment it is stored) or until `wait` seconds pass (then an empty list). ' +
        '`after` acknowledges everything up to that cursor: an introduction is delivered again until acknowledged. Pass the returned `cursor` as `after` next time.',
      security: bearerAuth,
      params: PeerParams,
      querystring: InboxQuery,
      response: { 200: Inbox, ...errorResponses(401, 403, 414, 429) }
    }
  }, async (request) => {
    const { peerId } = request.params
    const { after, wait = POLL_WAIT_SECONDS.default } = request.query
    const ticket = request.pollTicket
    if (ticket === null) throw new Error('inbox route without a poll ticket')
    try {
      // Subscribe before the first read: an introduction stored meanwhile wakes this poll with it, and
      // a request of this peer pipelined behind the poll, arriving meanwhile, releases it. A client that
      // goes away returns the ticket (see authenticate), which ends the wait. The deployment may hold
      // polls for less than the API allows: such a poll just answers sooner.
      const woken = app.inboxWaiters.wait(ticket, Math.min(wait, maxPollWaitSeconds) * 1000)
      const registration = caller(request)
      const cursor = after === undefined ? registration.inboxCursor : await app.introductions.acknowledge(peerId, after)
      const pending = await app.introductions.pending(peerId, registration.tokenHash, cursor)
      if (pending.length > 0) {
        app.punchMetrics.introductionsDelivered.inc(pending.length)
        return { introductions: pending.map((row) => introductionView(row, 'target')), cursor: pending.at(-1)!.seq }
      }
      const wake = await woken
      if (wake.reason !== 'arrived') return { introductions: [], cursor }
      app.punchMetrics.introductionsDelivered.inc()
      return { introductions: [introductionView(wake.item, 'target')], cursor: wake.item.seq }
    } finally {
      app.inboxWaiters.leave(ticket) // ends the wait when pending introductions were answered without it
    }
  })

  app.post('/peers/:peerId/inbox/ack', {
    ...self,
    schema: {
      tags: ['introductions'],
      operationId: 'acknowledgeInbox',
      summary: 'Acknowledge introductions up to a cursor',
      description: 'The same acknowledgement a poll with `after` makes, without polling. Returns the inbox position.',
      security: bearerAuth,
      params: PeerParams,
      body: AckBody,
      response: { 200: AckResponse, ...errorResponses(401, 403, 413, 414, 415, 429) }
    }
  }, async (request) => ({ cursor: await app.introductions.acknowledge(request.params.peerId, request.body.cursor) }))
}

export default peers
