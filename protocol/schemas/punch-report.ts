// Schemas of punch outcome reports (a peer's account of how its punch for an
// introduction ended) and of the success statistics built from them.
import { Type, type Static } from 'typebox'
import { REPORT_RETENTION_SECONDS, STATS_WINDOW_DEFAULT_SECONDS } from '../limits.js'
import { Timestamp } from './common.js'

const Outcome = Type.Enum(['connected', 'failed'], { description: 'How the punch ended' })
const Via = Type.Enum(['connect', 'accept'], { description: 'connected only: our dial completed (connect) or the peer\'s reached our listener (accept)' })
const Path = Type.Enum(['public', 'private'], { description: 'connected only: the peer\'s public (NAT) endpoint or a private (LAN) one' })

const Dials = Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Dials made (each sends SYNs)' })

export const PunchReportBody = Type.Object({
  outcome: Outcome,
  via: Type.Optional(Via),
  path: Type.Optional(Path),
  elapsedMs: Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'From receiving the introduction to the outcome, ms' }),
  dials: Type.Optional(Dials),
  attempts: Type.Optional(Type.With(Dials, { deprecated: true, description: 'Deprecated name of `dials`: send `dials`' })),
  errorCode: Type.Optional(Type.String({ pattern: '^PUNCH_ERR_[A-Z_]{1,54}$', description: 'failed only: the SDK\'s error code, e.g. PUNCH_ERR_PUNCH_TIMEOUT' }))
}, { additionalProperties: false, description: '`dials` is required (or, deprecated, `attempts`)' })
export type PunchReportBody = Static<typeof PunchReportBody>

export const PunchReport = Type.Object({
  introductionId: Type.String({ format: 'uuid' }),
  peerId: Type.String(),
  ...PunchReportBody.properties,
  dials: Dials,
  attempts: Type.With(Dials, { deprecated: true, description: 'Deprecated: the same as `dials`' }),
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
  connected: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  successRate: Type.With(Nullable(Type.Number({ minimum: 0, maximum: 1 })), { description: 'connected / reports; null without reports' }),
  byVia: Counts('Connected punches by via'),
  byPath: Counts('Connected punches by path'),
  failures: Counts('Failed punches by error code'),
  elapsedMs: Type.Object({
    median: Nullable(Type.Integer()),
    p95: Nullable(Type.Integer())
  }, { additionalProperties: false, description: 'Time to the authenticated connection of connected punches' }),
  dialsMedian: Type.With(Nullable(Type.Integer()), { description: 'Median dials of connected punches' }),
  attemptsMedian: Type.With(Nullable(Type.Integer()), { deprecated: true, description: 'Deprecated: the same as `dialsMedian`' })
}, { additionalProperties: false })
export type PunchStats = Static<typeof PunchStats>
