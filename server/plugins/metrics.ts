// Prometheus metrics at /metrics (fastify-metrics on prom-client): request
// latency per route, the process's own metrics, and the rendezvous domain's —
// live registrations, introductions created/delivered/expired, held polls,
// limit rejections and punch outcome reports — and the relay's: relayed
// connections open, their buffers, bytes relayed, refusals and endings. Each
// app has its own registry, so apps in one process (tests) never share counters.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
// A CommonJS module whose plugin is its `default` export.
import fastifyMetrics from 'fastify-metrics'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { MappingPair, PunchReportBody } from '@punchline/protocol'
import { END_REASONS, type Direction } from '../relay/relayed-connection.js'

export const METRICS_PATH = '/metrics'
/** Error statuses that mean "a limit said no": the error handler counts them by code. */
export const LIMIT_STATUSES = new Set([413, 429])

function domainMetrics (registry: Registry, app: FastifyInstance) {
  const registers = [registry]
  return {
    introductionsCreated: new Counter({ name: 'punchline_introductions_created_total', help: 'Introductions stored', registers }),
    introductionsDelivered: new Counter({ name: 'punchline_introductions_delivered_total', help: 'Introductions handed to their target in a poll response (one redelivered after a lost response counts again)', registers }),
    introductionsExpired: new Counter({ name: 'punchline_introductions_expired_total', help: 'Introductions swept after expiring without their target acknowledging them', registers }),
    limitRejections: new Counter({ name: 'punchline_limit_rejections_total', help: 'Requests refused by a limit (429 rate, inbox and registration bounds; 413 body size), by error code', labelNames: ['code'], registers }),
    punchReports: new Counter({ name: 'punchline_punch_reports_total', help: 'Punch outcomes reported by peers, by the pair of mappings of the introduction', labelNames: ['outcome', 'via', 'path', 'mappings'], registers }),
    punchElapsed: new Histogram({
      name: 'punchline_punch_elapsed_seconds',
      help: 'Reported time from introduction to outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    registrationsLive: new Gauge({
      name: 'punchline_registrations_live',
      help: 'Registrations that have not expired',
      registers,
      async collect () { this.set(await app.registrations.countLive()) }
    }),
    pollsHeld: new Gauge({
      name: 'punchline_polls_held',
      help: 'Long-polls being held open',
      registers,
      collect () { this.set(app.inboxWaiters.size) }
    }),
    relayedConnections: new Gauge({
      name: 'punchline_relayed_connections',
      help: 'Relayed connections open: waiting (one side attached) or spliced (both)',
      labelNames: ['phase'],
      registers,
      collect () {
        const { waiting, spliced } = app.relays.counts()
        this.set({ phase: 'waiting' }, waiting)
        this.set({ phase: 'spliced' }, spliced)
      }
    }),
    relayBuffered: new Gauge({
      name: 'punchline_relay_buffered_bytes',
      help: 'Bytes held in the socket buffers of relayed connections (bounded by backpressure)',
      registers,
      collect () { this.set(app.relays.bufferedBytes()) }
    }),
    relayedBytes: new Counter({ name: 'punchline_relayed_bytes_total', help: 'Bytes relayed, by direction', labelNames: ['direction'], registers }),
    relayRefusals: new Counter({ name: 'punchline_relay_refusals_total', help: 'Attaches to the relay refused, by error code', labelNames: ['code'], registers }),
    relayedConnectionsEnded: new Counter({ name: 'punchline_relayed_connections_ended_total', help: 'Relayed connections ended, by reason: closed, reset, idle, lifetime, unpaired, shutdown', labelNames: ['reason'], registers })
  }
}

export type DomainMetrics = ReturnType<typeof domainMetrics> & {
  recordReport: (report: PunchReportBody, mappings: MappingPair) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    punchMetrics: DomainMetrics
  }
}

export default fp(async function metrics (app) {
  const registry = new Registry()
  await app.register(fastifyMetrics.default, {
    endpoint: { url: METRICS_PATH, method: 'GET', schema: { hide: true }, onRequest: app.requireMetricsToken, handler: () => {} },
    defaultMetrics: { enabled: true, register: registry, prefix: 'punchline_' },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      routeBlacklist: [METRICS_PATH, /^\/docs/],
      // The summary is disabled, but the plugin builds it anyway: keep it out of every registry.
      overrides: { histogram: { name: 'punchline_http_request_duration_seconds', registers: [registry] }, summary: { registers: [] } }
    }
  })
  const domain = domainMetrics(registry, app)
  const directions: Direction[] = ['initiator_to_target', 'target_to_initiator']
  const bytesBy = Object.fromEntries(directions.map((direction) => [direction, domain.relayedBytes.labels({ direction })])) as Record<Direction, ReturnType<typeof domain.relayedBytes.labels>>
  for (const reason of END_REASONS) domain.relayedConnectionsEnded.inc({ reason }, 0)
  app.relays.observer = {
    relayed: (direction, bytes) => { bytesBy[direction].inc(bytes) },
    ended: (reason) => { domain.relayedConnectionsEnded.inc({ reason }) }
  }
  app.decorate('punchMetrics', {
    ...domain,
    recordReport: (report: PunchReportBody, mappings: MappingPair) => {
      const { via, path } = report.outcome === 'connected' ? report : { via: 'none', path: 'none' }
      domain.punchReports.inc({ outcome: report.outcome, via, path, mappings })
      domain.punchElapsed.observe({ outcome: report.outcome }, report.elapsedMs / 1000)
    }
  })
}, { name: 'metrics', dependencies: ['rendezvous', 'metrics-token', 'relay'] })
