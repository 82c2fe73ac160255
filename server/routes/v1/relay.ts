// /v1/introductions/{introductionId}/relay: the two peers of a live
// introduction attach here, each with its own token and an HTTP/1.1
// Upgrade, when they cannot punch; the server splices their byte streams
// (server/relay/). The upgrade reaches this route through Fastify's own
// request path (relay/upgrades.ts), so the address rate limit, the token and
// the peer's rate limit are checked as on every route, before the 101.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { bearerAuth, IntroductionParams, namesRelayProtocol, RELAY_PROTOCOL, RelayResponses, RelayUpgradeHeaders } from '@punchline/protocol'
import { atField, errors } from '../../errors.js'
import { punchCodeOf } from '../../error-handler.js'
import { caller } from '../../plugins/authentication.js'
import { sideOf } from '../../introductions/introductions.js'
import { isUpgrade, switchProtocols } from '../../relay/upgrades.js'

const relay: FastifyPluginAsyncTypebox = async (app) => {
  /** The relay is on, and this is an upgrade to it: else 403, or 426 with the protocol to upgrade to (RFC 9110 §15.5.22). */
  async function requireRelayUpgrade (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!app.relayEnabled) throw new errors.RELAY_DISABLED()
    // GET only: Fastify also routes HEAD here, and an upgrade of a HEAD is no attach.
    if (request.method === 'GET' && isUpgrade(request) && namesRelayProtocol(request.headers.upgrade)) return
    // An upgrade to something else is answered and its connection closed: no parser is left to read another request.
    void reply.header('upgrade', RELAY_PROTOCOL).header('connection', isUpgrade(request) ? 'upgrade, close' : 'upgrade')
    throw atField(new errors.UPGRADE_REQUIRED(RELAY_PROTOCOL), 'headers/upgrade')
  }

  app.get('/introductions/:introductionId/relay', {
    onRequest: [app.authenticate, requireRelayUpgrade],
    onError: async (_request, _reply, error) => { app.punchMetrics.relayRefusals.inc({ code: punchCodeOf(error) }) },
    config: { ownConnection: true },
    schema: {
      tags: ['relay'],
      operationId: 'attachRelay',
      summary: 'Attach to the relay of an introduction (HTTP/1.1 Upgrade)',
      description: `For peers that cannot punch. Each of the introduction's two peers sends this request with its own token, ` +
        `\`Connection: Upgrade\` and \`Upgrade: ${RELAY_PROTOCOL}\`, on a connection of its own (it does not move the peer's observed ` +
        'endpoint), while the introduction is live. Each gets 101 at once; once both have attached, the server splices their ' +
        'byte streams, at the server\'s rate per direction (a faster sender is slowed, never cut). One relayed connection per ' +
        'side and introduction; the server bounds them per peer and in total, how long a side waits for the other, how long a ' +
        'relayed connection may stay idle, and how long it may last. The relay sees the bytes it carries. ' +
        'Swagger UI cannot send an upgrade: every try from here is answered 426.',
      security: bearerAuth,
      params: IntroductionParams,
      headers: RelayUpgradeHeaders,
      response: RelayResponses
    }
  }, async (request, reply) => {
    const { introductionId } = request.params
    const { row, role } = sideOf(await app.introductions.findLive(introductionId), introductionId, caller(request).peerId)
    app.relays.attach(row, role, () => switchProtocols(request, reply, RELAY_PROTOCOL))
  })
}

export default relay
