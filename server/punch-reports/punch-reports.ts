// Punch outcome reports: each peer of an introduction may report once how its
// punch ended. Reports are stored (they outlive their introductions, for
// REPORT_RETENTION_SECONDS) and counted into the in-memory statistics
// (./statistics.ts). Those are built from the table after start, in the
// background and a page at a time, so that a large table neither delays the
// server nor stalls its event loop; until then the statistics answer 503.
import type { PrismaClient, PunchReport as PunchReportRow } from '../generated/prisma/client.js'
import { atField, errors, retryAfter } from '../errors.js'
import type { GroupCommit, Outcome, Transaction } from '../db/group-commit.js'
import type { Clock } from '../registrations/registrations.js'
import { MAPPING_PAIRS, REPORT_RETENTION_SECONDS, type MappingPair, type PunchReport, type PunchReportBody, type PunchStats } from '@punchline/protocol'
import { PunchStatistics } from './statistics.js'

export function reportView (row: Omit<PunchReportRow, 'seq'>): PunchReport {
  return {
    introductionId: row.introductionId,
    peerId: row.peerId,
    outcome: row.outcome as PunchReport['outcome'],
    ...(row.via !== null ? { via: row.via as NonNullable<PunchReport['via']> } : {}),
    ...(row.path !== null ? { path: row.path as NonNullable<PunchReport['path']> } : {}),
    elapsedMs: row.elapsedMs,
    dials: row.dials,
    attempts: row.dials,
    ...(row.errorCode !== null ? { errorCode: row.errorCode as NonNullable<PunchReport['errorCode']> } : {}),
    mappings: pairLabel(row.mappings),
    createdAt: row.createdAt.toISOString()
  }
}

/** A stored pair of mappings as the protocol spells it (a row from before mappings were observed: unknown+unknown). */
function pairLabel (stored: string): MappingPair {
  return (MAPPING_PAIRS as readonly string[]).includes(stored) ? stored as MappingPair : 'unknown+unknown'
}

/**
 * What the schema cannot say: the dials are required, under their name or the
 * deprecated one; a relayed connection is relayed by both its via and its path.
 */
function checkConsistent (body: PunchReportBody): void {
  if (body.outcome === 'connected' && (body.via === 'relay') !== (body.path === 'relay')) {
    const field = body.via === 'relay' ? 'body/path' : 'body/via'
    throw atField(new errors.VALIDATION(`${field} must be "relay" when the other of via and path is: a connection is relayed or direct`), field)
  }
  if (body.dials === undefined && body.attempts === undefined) throw atField(new errors.VALIDATION('body/dials is required'), 'body/dials')
  if (body.dials !== undefined && body.attempts !== undefined && body.dials !== body.attempts) {
    throw atField(new errors.VALIDATION('body/attempts is the deprecated name of body/dials and must equal it; send dials only'), 'body/attempts')
  }
}

/** A report as stored: everything but its seq, which the database gives it. */
type NewReport = Omit<PunchReportRow, 'seq'>

/** Reports that arrive together are stored as one batch (group commit); a second report of a peer is refused. */
async function storeBatch (tx: Transaction, rows: NewReport[]): Promise<Array<Outcome<NewReport>>> {
  const key = (row: Pick<NewReport, 'introductionId' | 'peerId'>): string => `${row.introductionId} ${row.peerId}`
  const taken = new Set((await tx.punchReport.findMany({
    where: { OR: rows.map(({ introductionId, peerId }) => ({ introductionId, peerId })) },
    select: { introductionId: true, peerId: true }
  })).map(key))
  const fresh: NewReport[] = []
  const outcomes = rows.map((row): Outcome<NewReport> => {
    if (taken.has(key(row))) return { error: new errors.REPORT_EXISTS(row.peerId, row.introductionId) }
    taken.add(key(row))
    fresh.push(row)
    return { value: row }
  })
  if (fresh.length > 0) await tx.punchReport.createMany({ data: fresh })
  return outcomes
}

/** Reports read per query while the statistics are built (~10 ms of event loop each: /health stays prompt meanwhile). */
const LOAD_PAGE = 500
/** A request for statistics waits this long for them to be built, then is told to retry. */
const LOADING_WAIT_MS = 2000
/** ... in this many seconds. */
const LOADING_RETRY_SECONDS = 5

export class PunchReports {
  readonly #prisma: PrismaClient
  readonly #now: Clock
  readonly #statistics = new PunchStatistics()
  readonly #store: (row: NewReport) => Promise<NewReport>
  #loaded = false
  #loading: Promise<number> | undefined
  #loadStartedAt: Date | undefined
  #stopped = false

  constructor (prisma: PrismaClient, now: Clock, commit: GroupCommit) {
    this.#prisma = prisma
    this.#now = now
    this.#store = commit.kind('report', storeBatch)
  }

  /** Builds the statistics from the stored reports of the retention window, a page at a time; resolves with their number. */
  async load (): Promise<number> {
    this.#loading ??= this.#load()
    return await this.#loading
  }

  async #load (): Promise<number> {
    this.#loadStartedAt = this.#now()
    const since = new Date(this.#loadStartedAt.getTime() - REPORT_RETENTION_SECONDS * 1000)
    let loaded = 0
    let after = 0
    for (;;) {
      const page = await this.#prisma.punchReport.findMany({ where: { seq: { gt: after }, createdAt: { gte: since } }, orderBy: { seq: 'asc' }, take: LOAD_PAGE })
      if (this.#stopped) return loaded
      // Reports recorded meanwhile were counted by record() already.
      for (const row of page) if (row.createdAt < this.#loadStartedAt!) this.#statistics.add(row)
      loaded += page.length
      if (page.length < LOAD_PAGE) {
        this.#loaded = true
        return loaded
      }
      after = page.at(-1)!.seq
      await new Promise((resolve) => setImmediate(resolve)) // let requests in between pages
    }
  }

  /** Stops a load under way (the database is closing). */
  stop (): void {
    this.#stopped = true
  }

  /**
   * Records `peerId`'s report for an introduction it is part of (checked by
   * the caller), counted under the introduction's pair of mappings: the
   * server's observations, not anything the peer says.
   */
  async record (introductionId: string, peerId: string, body: PunchReportBody, mappings: MappingPair): Promise<NewReport> {
    checkConsistent(body)
    let row: NewReport
    try {
      row = await this.#store({
        introductionId,
        peerId,
        outcome: body.outcome,
        via: body.outcome === 'connected' ? body.via : null,
        path: body.outcome === 'connected' ? body.path : null,
        elapsedMs: body.elapsedMs,
        dials: body.dials ?? body.attempts ?? 0,
        errorCode: body.outcome === 'failed' ? body.errorCode ?? null : null,
        mappings,
        createdAt: this.#now()
      })
    } catch (error) {
      // Two instances stored the same report at once; the other one won.
      if ((error as { code?: unknown }).code === 'P2002') throw new errors.REPORT_EXISTS(peerId, introductionId)
      throw error
    }
    this.#statistics.add(row)
    return row
  }

  /** The statistics over the last `windowSeconds`: computed from the in-memory buckets, never from the table. */
  async stats (windowSeconds: number): Promise<PunchStats> {
    if (!this.#loaded) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.load(), new Promise((resolve) => { timer = setTimeout(resolve, LOADING_WAIT_MS) })])
      clearTimeout(timer)
    }
    if (!this.#loaded) throw retryAfter(new errors.UNAVAILABLE('the statistics are still being built from the stored reports'), LOADING_RETRY_SECONDS)
    return this.#statistics.stats(windowSeconds, this.#now())
  }

  async sweep (): Promise<number> {
    const now = this.#now()
    this.#statistics.prune(now)
    const before = new Date(now.getTime() - REPORT_RETENTION_SECONDS * 1000)
    const { count } = await this.#prisma.punchReport.deleteMany({ where: { createdAt: { lt: before } } })
    return count
  }
}
