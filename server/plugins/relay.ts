// The relay, on the API's port: decorates the app with the table of relayed
// connections (relay/relays.ts) and, when the relay is on, routes HTTP
// upgrades through Fastify (relay/upgrades.ts) so that the relay route's
// hooks run like any route's. Relayed connections are ended before the
// server closes: Node's server.close() waits for every open socket, and a
// relayed one has left the HTTP server's own bookkeeping.
import fp from 'fastify-plugin'
import { Relays } from '../relay/relays.js'
import { routeUpgrades } from '../relay/upgrades.js'
import type { Clock } from '../registrations/registrations.js'

declare module 'fastify' {
  interface FastifyInstance {
    relays: Relays
    /** Whether this server relays (`--relay on`). */
    relayEnabled: boolean
  }
}

export interface RelayPluginOptions {
  enabled: boolean
  maxPerPeer: number
  maxTotal: number
  bytesPerSecond: number
  idleTimeoutSeconds: number
  maxLifetimeSeconds: number
  peerWaitSeconds: number
  now: Clock
}

export default fp<RelayPluginOptions>(async function relay (app, options) {
  const relays = new Relays({
    maxPerPeer: options.maxPerPeer,
    maxTotal: options.maxTotal,
    bytesPerSecond: options.bytesPerSecond,
    idleTimeoutMs: options.idleTimeoutSeconds * 1000,
    maxLifetimeMs: options.maxLifetimeSeconds * 1000,
    peerWaitMs: options.peerWaitSeconds * 1000,
    now: options.now
  })
  app.decorate('relays', relays)
  app.decorate('relayEnabled', options.enabled)
  if (!options.enabled) return
  const upgrades = routeUpgrades(app)
  app.addHook('preClose', async () => {
    upgrades.close()
    relays.close()
  })
}, { name: 'relay' })
