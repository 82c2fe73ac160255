// Builds the punchline rendezvous app: plugins in tiers (third-party wrappers,
// domain decorators, routes). Never listens: server/main.ts does that, tests
// use app.inject or listen on an ephemeral loopback port themselves.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { API_PREFIX } from '@punchline/protocol'
import { checkSettings, withDefaults, type AppSettings } from './settings.js'
import { errors } from './errors.js'
import { errorHandler } from './error-handler.js'
import { validatorCompiler } from './validation.js'
import type { Clock } from './registrations/registrations.js'
import openapi from './plugins/swagger.js'
import database from './plugins/database.js'
import rendezvous from './plugins/rendezvous.js'
import authentication from './plugins/authentication.js'
import apiKeysPlugin from './plugins/api-keys.js'
import sweeper from './plugins/sweeper.js'
import metrics from './plugins/metrics.js'
import shutdown from './plugins/shutdown.js'
import rateLimits from './plugins/rate-limits.js'
import connectionLimits from './plugins/connection-limits.js'
import mappingPort from './plugins/mapping-port.js'
import metricsToken from './plugins/metrics-token.js'
import relayPlugin from './plugins/relay.js'
import health from './routes/health.js'
import peers from './routes/v1/peers.js'
import challenges from './routes/v1/challenges.js'
import introductions from './routes/v1/introductions.js'
import stats from './routes/v1/stats.js'
import relay from './routes/v1/relay.js'

/** How often Node checks connections against the header and request timeouts. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000

/** Headers that carry secrets never reach the logs. */
export const LOG_REDACTIONS = ['req.headers.authorization']

export interface AppOptions extends Partial<AppSettings> {
  /** Absolute path of the SQLite file (created and migrated when missing), or a postgresql:// URL (migrated). */
  databasePath: string
  /** Serve HTTPS with this key and certificate chain (PEM). */
  https?: { key: Buffer, cert: Buffer } | undefined
  logger?: FastifyServerOptions['logger']
  /** The clock that decides expiry; tests move it by hand. */
  now?: Clock
}

/** The app, on the settings given (checked against the settings table; defaults for the rest). */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  checkSettings(options)
  const {
    databasePath, https, logger = false, now = () => new Date(),
    introductionTtlSeconds, sweepIntervalSeconds, bodyLimitBytes, maxPendingIntroductions, maxRegistrationsPerAddress,
    rateLimitPerAddress, rateLimitPerPeer, apiKeys, headersTimeoutSeconds, requestTimeoutSeconds, maxPollWaitSeconds,
    introductionsPerTarget, introductionsPerPair, introductionsPerAddressAndTarget, maxConnections, maxConnectionsPerAddress,
    ipv6PrefixLength, metricsToken: deploymentMetricsToken, livenessWriteIntervalSeconds, idReservationDays,
    relay: relaySwitch, relayMaxPerPeer, relayMaxTotal, relayBytesPerSecond, relayIdleTimeoutSeconds, relayMaxLifetimeSeconds, relayPeerWaitSeconds
  } = withDefaults(options)

  const handleError = errorHandler(bodyLimitBytes)
  const app = Fastify({
    ...(https !== undefined ? { https } : {}),
    logger: logger === false || logger === true ? logger : { redact: LOG_REDACTIONS, ...logger },
    bodyLimit: bodyLimitBytes,
    // The public endpoint IS the TCP source address: never take it from headers.
    trustProxy: false,
    // Slow senders (slowloris) are cut off; these bound receiving a request, not answering it,
    // so a held long-poll is not affected.
    requestTimeout: requestTimeoutSeconds * 1000,
    http: { headersTimeout: headersTimeoutSeconds * 1000, requestTimeout: requestTimeoutSeconds * 1000, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    // Errors the router answers before any route (bad or over-long URLs) use the same table.
    frameworkErrors: (error, request, reply) => { void handleError.call(app, error, request, reply).then((body) => (reply as FastifyReply).send(body)) }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // The API speaks JSON only: anything else is a 415, not a string body.
  app.removeContentTypeParser('text/plain')
  app.setValidatorCompiler(validatorCompiler)
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(async (request) => { throw new errors.ROUTE_NOT_FOUND(request.method, request.url) })

  await app.register(shutdown)
  await app.register(connectionLimits, { maxConnections, maxConnectionsPerAddress, ipv6PrefixLength })
  await app.register(rateLimits, { perAddress: rateLimitPerAddress, perPeer: rateLimitPerPeer, introductionsPerTarget, introductionsPerPair, introductionsPerAddressAndTarget, ipv6PrefixLength })
  await app.register(mappingPort, { https, headersTimeoutMs: headersTimeoutSeconds * 1000, requestTimeoutMs: requestTimeoutSeconds * 1000, connectionsCheckingIntervalMs: TIMEOUT_CHECK_INTERVAL_MS })
  await app.register(metricsToken, { metricsToken: deploymentMetricsToken })
  await app.register(openapi)
  await app.register(database, { databasePath })
  await app.register(rendezvous, { introductionTtlSeconds, maxPendingIntroductions, maxRegistrationsPerAddress, ipv6PrefixLength, livenessWriteIntervalSeconds, idReservationDays, now })
  await app.register(authentication)
  await app.register(apiKeysPlugin, { apiKeys })
  await app.register(relayPlugin, {
    enabled: relaySwitch === 'on',
    maxPerPeer: relayMaxPerPeer,
    maxTotal: relayMaxTotal,
    bytesPerSecond: relayBytesPerSecond,
    idleTimeoutSeconds: relayIdleTimeoutSeconds,
    maxLifetimeSeconds: relayMaxLifetimeSeconds,
    peerWaitSeconds: relayPeerWaitSeconds,
    now
  })
  await app.register(metrics)
  await app.register(sweeper, { sweepIntervalSeconds })

  await app.register(health)
  await app.register(challenges, { prefix: API_PREFIX })
  await app.register(peers, { prefix: API_PREFIX, maxPollWaitSeconds })
  await app.register(introductions, { prefix: API_PREFIX })
  await app.register(stats, { prefix: API_PREFIX })
  await app.register(relay, { prefix: API_PREFIX })
  return app
}
