// Punch outcome reports: each peer of an introduction may report once how its
// punch ended; the aggregate over a recent window is the server's success
// statistics. Reports outlive their introductions and are kept for
// REPORT_RETENTION_SECONDS.
import type { PrismaClient, PunchReport as PunchReportRow } from '../generated/prisma/client.js'
import { atField, errors } from '../errors.js'
import type { GroupCommit, Outcome, Transaction } from '../db/group-commit.js'
import type { Clock } from '../registrations/registrations.js'
import { REPORT_RETENTION_SECONDS, type PunchReport, type PunchReportBody, type PunchStats } from '@punchline/protocol'

export function reportView (row: PunchReportRow): PunchReport {
  return {
    introductionId: row.introductionId,
    peerId: row.peerId,
    outcome: row.outcome as PunchReport['outcome'],
    ...(row.via !== null ? { via: row.via as NonNullable<PunchReport['via']> } : {}),
    ...(row.path !== null ? { path: row.path as NonNullable<PunchReport['path']> } : {}),
    elapsedMs: row.elapsedMs,
    dials: row.dials,
    attempts: row.dials,
    ...(row.errorCode !== null ? { errorCode: row.errorCode } : {}),
    createdAt: row.createdAt.toISOString()
  }
}

/** What the schema cannot say: via and path belong to connected punches, errorCode to failed ones; dials are required. */
function checkConsistent (body: PunchReportBody): void {
  if (body.outcome === 'connected') {
    if (body.via === undefined) throw atField(new errors.VALIDATION('body/via is required when outcome is "connected"'), 'body/via')
    if (body.path === undefined) throw atField(new errors.VALIDATION('body/path is required when outcome is "connected"'), 'body/path')
    if (body.errorCode !== undefined) throw atField(new errors.VALIDATION('body/errorCode is only for outcome "failed"'), 'body/errorCode')
  } else {
    if (body.via !== undefined) throw atField(new errors.VALIDATION('body/via is only for outcome "connected"'), 'body/via')
    if (body.path !== undefined) throw atField(new errors.VALIDATION('body/path is only for outcome "connected"'), 'body/path')
  }
  if (body.dials === undefined && body.attempts === undefined) throw atField(new errors.VALIDATION('body/dials is required'), 'body/dials')
  if (body.dials !== undefined && body.attempts !== undefined && body.dials !== body.attempts) {
    throw atField(new errors.VALIDATION('body/attempts is the deprecated name of body/dials and must equal it; send dials only'), 'body/attempts')
  }
}

/** Reports that arrive together are stored as one batch (group commit); a second report of a peer is refused. */
async function storeBatch (tx: Transaction, rows: PunchReportRow[]): Promise<Array<Outcome<PunchReportRow>>> {
  const key = (row: Pick<PunchReportRow, 'introductionId' | 'peerId'>): string => `${row.introductionId} ${row.peerId}`
  const taken = new Set((await tx.punchReport.findMany({
    where: { OR: rows.map(({ introductionId, peerId }) => ({ introductionId, peerId })) },
    select: { introductionId: true, peerId: true }
  })).map(key))
  const fresh: PunchReportRow[] = []
  const outcomes = rows.map((row): Outcome<PunchReportRow> => {
    if (taken.has(key(row))) return { error: new errors.REPORT_EXISTS(row.peerId, row.introductionId) }
    taken.add(key(row))
    fresh.push(row)
    return { value: row }
  })
  if (fresh.length > 0) await tx.punchReport.createMany({ data: fresh })
  return outcomes
}

export class PunchReports {
  readonly #prisma: PrismaClient
  readonly #now: Clock
  readonly #store: (row: PunchReportRow) => Promise<PunchReportRow>

  constructor (prisma: PrismaClient, now: Clock, commit: GroupCommit) {
    this.#prisma = prisma
    this.#now = now
    this.#store = commit.kind('report', storeBatch)
  }

  /** Records `peerId`'s report for an introduction it is part of (checked by the caller). */
  async record (introductionId: string, peerId: string, body: PunchReportBody): Promise<PunchReportRow> {
    checkConsistent(body)
    try {
      return await this.#store({
        introductionId,
        peerId,
        outcome: body.outcome,
        via: body.via ?? null,
        path: body.path ?? null,
        elapsedMs: body.elapsedMs,
        dials: body.dials ?? body.attempts ?? 0,
        errorCode: body.errorCode ?? null,
        createdAt: this.#now()
      })
    } catch (error) {
      // Two instances stored the same report at once; the other one won.
      if ((error as { code?: unknown }).code === 'P2002') throw new errors.REPORT_EXISTS(peerId, introductionId)
      throw error
    }
  }

  async stats (windowSeconds: number): Promise<PunchStats> {
    const since = new Date(this.#now().getTime() - windowSeconds * 1000)
    const where = { createdAt: { gte: since } }
    const groups = await this.#prisma.punchReport.groupBy({ by: ['outcome', 'via', 'path', 'errorCode'], where, _count: { _all: true } })
    const stats: PunchStats = {
      windowSeconds,
      since: since.toISOString(),
      reports: 0,
      connected: 0,
      failed: 0,
      successRate: null,
      byVia: {},
      byPath: {},
      failures: {},
      elapsedMs: { median: null, p95: null },
      dialsMedian: null,
      attemptsMedian: null
    }
    const add = (counts: Record<string, number>, key: string, n: number): void => { counts[key] = (counts[key] ?? 0) + n }
    for (const group of groups) {
      const n = group._count._all
      stats.reports += n
      if (group.outcome === 'connected') {
        stats.connected += n
        add(stats.byVia, group.via ?? 'unknown', n)
        add(stats.byPath, group.path ?? 'unknown', n)
      } else {
        stats.failed += n
        add(stats.failures, group.errorCode ?? 'unknown', n)
      }
    }
    if (stats.reports > 0) stats.successRate = stats.connected / stats.reports
    if (stats.connected > 0) {
      const connected = { ...where, outcome: 'connected' }
      const nth = async (field: 'elapsedMs' | 'dials', q: number): Promise<number | null> => {
        const row = await this.#prisma.punchReport.findFirst({ where: connected, orderBy: { [field]: 'asc' }, skip: Math.min(stats.connected - 1, Math.floor(q * stats.connected)), select: { [field]: true } })
        return (row as Record<string, number> | null)?.[field] ?? null
      }
      stats.elapsedMs = { median: await nth('elapsedMs', 0.5), p95: await nth('elapsedMs', 0.95) }
      stats.dialsMedian = await nth('dials', 0.5)
      stats.attemptsMedian = stats.dialsMedian
    }
    return stats
  }

  async sweep (): Promise<number> {
    const before = new Date(this.#now().getTime() - REPORT_RETENTION_SECONDS * 1000)
    const { count } = await this.#prisma.punchReport.deleteMany({ where: { createdAt: { lt: before } } })
    return count
  }
}
