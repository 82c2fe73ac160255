// Schemas of punch outcome reports (a peer's account of how its punch for an
// introduction ended) and of the success statistics built from them.
import { Type, type Static } from 'typebox'
import { REPORT_RETENTION_SECONDS, STATS_WINDOW_DEFAULT_SECONDS } from '../limits.js'
import { MappingPair, Timestamp } from './common.js'

const Via = Type.Enum(['connect', 'accept', 'relay'], { description: 'Our dial completed (connect), the peer\'s reached our listener (accept), or the server relays the connection (relay)' })
const Path = Type.Enum(['public', 'private', 'relay'], { description: 'The peer\'s public (NAT) endpoint, a private (LAN) one, or the server\'s relay (relay: then `via` is `relay` too)' })
const ElapsedMs = Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'From receiving the introduction to the outcome, ms' })
const Dials = Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Dials made (each sends SYNs)' })
const DeprecatedAttempts = Type.With(Dials, { deprecated: true, description: 'Deprecated name of `dials`: send `dials`' })

/** How a punch may fail, as a peer reports it: the SDK's codes of a punch's end, nothing else (bounded statistics). */
export const PUNCH_FAILURE_CODES = ['PUNCH_ERR_PUNCH_TIMEOUT', 'PUNCH_ERR_AUTHENTICATION_FAILED', 'PUNCH_ERR_HANDSHAKE_INTERRUPTED', 'PUNCH_ERR_PEER_KEY_MISMATCH', 'PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT', 'PUNCH_ERR_UNKNOWN'] as const
export type PunchFailureCode = typeof PUNCH_FAILURE_CODES[number]

export const ConnectedReport = Type.Object({
  outcome: Type.Literal('connected'),
  via: Via,
  path: Path,
  elapsedMs: ElapsedMs,
  dials: Type.Optional(Dials),
  attempts: Type.Optional(DeprecatedAttempts)
}, { additionalProperties: false, description: 'The punch connected, directly or through the relay (`via` and `path` both `relay`). `dials` is required (or, deprecated, `attempts`).' })

export const FailedReport = Type.Object({
  outcome: Type.Literal('failed'),
  elapsedMs: ElapsedMs,
  dials: Type.Optional(Dials),
  attempts: Type.Optional(DeprecatedAttempts),
  errorCode: Type.Optional(Type.Enum(PUNCH_FAILURE_CODES, { description: 'The SDK\'s error code' }))
}, { additionalProperties: false, description: 'The punch failed. `dials` is required (or, deprecated, `attempts`).' })

/** A report is one or the other, told apart by `outcome` (a discriminated union). */
export const PunchReportBody = Type.Unsafe<Static<typeof ConnectedReport> | Static<typeof FailedReport>>({
  type: 'object',
  oneOf: [ConnectedReport, FailedReport],
  discriminator: { propertyName: 'outcome' },
  description: 'How the caller\'s punch ended: `connected` (with via and path) or `failed` (with an optional errorCode)'
})
export type PunchReportBody = Static<typeof PunchReportBody>

export const PunchReport = Type.Object({
  introductionId: Type.String({ format: 'uuid' }),
  peerId: Type.String(),
  outcome: Type.Enum(['connected', 'failed']),
  via: Type.Optional(Via),
  path: Type.Optional(Path),
  elapsedMs: ElapsedMs,
  dials: Dials,
  attempts: Type.With(Dials, { deprecated: true, description: 'Deprecated: the same as `dials`' }),
  errorCode: Type.Optional(Type.Enum(PUNCH_FAILURE_CODES)),
  mappings: MappingPair,
  createdAt: Timestamp
}, { additionalProperties: false })
export type PunchReport = Static<typeof PunchReport>

export const StatsQuery = Type.Object({
  windowSeconds: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: REPORT_RETENTION_SECONDS,
    description: `Statistics over the reports of the last this many seconds (default ${STATS_WINDOW_DEFAULT_SECONDS})`
  }))
}, { additionalProperties: false })
export type StatsQuery = Static<typeof StatsQuery>

const Counts = (description: string) => Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const PunchStats = Type.Object({
  windowSeconds: Type.Integer(),
  since: Timestamp,
  reports: Type.Integer({ minimum: 0, description: 'Reports in the window (each peer of an introduction reports its own punch)' }),
  connected: Type.Integer({ minimum: 0, description: 'direct + relayed' }),
  direct: Type.Integer({ minimum: 0, description: 'Connected by punching (public or private path)' }),
  relayed: Type.Integer({ minimum: 0, description: 'Connected through the server\'s relay' }),
  failed: Type.Integer({ minimum: 0 }),
  successRate: Type.With(Nullable(Type.Number({ minimum: 0, maximum: 1 })), { description: 'connected / reports; null without reports' }),
  directRate: Type.With(Nullable(Type.Number({ minimum: 0, maximum: 1 })), { description: 'direct / reports: how often punching alone worked; null without reports' }),
  byVia: Counts('Connected punches by via'),
  byPath: Counts('Connected punches by path'),
  failures: Counts('Failed punches by error code'),
  byMappings: Type.Record(Type.String(), Type.Object({
    reports: Type.Integer({ minimum: 0 }),
    connected: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 })
  }, { additionalProperties: false }), {
    description: 'Reports by the mappings of the introduction\'s two peers as the server observed them (`independent+dependent`: ' +
      'one side each), from the six labels of MappingPair; pairs without reports are left out'
  }),
  elapsedMs: Type.Object({
    median: Nullable(Type.Integer()),
    p95: Nullable(Type.Integer())
  }, { additionalProperties: false, description: 'Time to the authenticated connection of direct connections' }),
  relayedElapsedMs: Type.Object({
    median: Nullable(Type.Integer()),
    p95: Nullable(Type.Integer())
  }, { additionalProperties: false, description: 'Time to the authenticated connection of relayed connections (the punch\'s head start included)' }),
  dialsMedian: Type.With(Nullable(Type.Integer()), { description: 'Median dials of direct connections' }),
  attemptsMedian: Type.With(Nullable(Type.Integer()), { deprecated: true, description: 'Deprecated: the same as `dialsMedian`' })
}, { additionalProperties: false })
export type PunchStats = Static<typeof PunchStats>
