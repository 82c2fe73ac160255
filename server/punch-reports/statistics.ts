// Punch statistics kept up to date as reports arrive, so that reading them
// costs the same whatever the number of reports: one bucket per minute that
// had reports (at most a week of them), each with its counts and two
// histograms (time to connect, dials). Percentiles come from the histograms:
// exact below 32, within ±3% above (16 bins per doubling). Every label is from
// a closed set (outcome, via, path, the protocol's failure codes, the six
// pairs of mappings), so a bucket stays small whatever peers report. A
// connection through the relay (path "relay") is counted apart from direct
// ones, with its own times.
import { REPORT_RETENTION_SECONDS, type PunchStats } from '@punchline/protocol'

/** Bins per doubling of a value: a bin is 1/16 of its lower edge wide, so its midpoint is within ±1/32 (~3%). */
const SUB_BINS = 16
/** Values below this get a bin each. */
const EXACT_BELOW = 32
const MINUTE_MS = 60_000

/** The bin of a non-negative integer: exact below EXACT_BELOW, then SUB_BINS per doubling. */
export function binOf (value: number): number {
  const v = Math.max(0, Math.floor(value))
  if (v < EXACT_BELOW) return v
  const octave = Math.floor(Math.log2(v))
  const width = 2 ** octave / SUB_BINS
  return EXACT_BELOW + (octave - Math.log2(EXACT_BELOW)) * SUB_BINS + Math.floor((v - 2 ** octave) / width)
}

/** The value a bin stands for: its own value when exact, else its midpoint, rounded. */
export function valueOf (bin: number): number {
  if (bin < EXACT_BELOW) return bin
  const octave = Math.log2(EXACT_BELOW) + Math.floor((bin - EXACT_BELOW) / SUB_BINS)
  const width = 2 ** octave / SUB_BINS
  return Math.round(2 ** octave + ((bin - EXACT_BELOW) % SUB_BINS + 0.5) * width)
}

/** The value at rank ⌊q·n⌋ (0-based) among the n values a histogram counted. */
function quantile (histogram: Map<number, number>, n: number, q: number): number | null {
  if (n === 0) return null
  const rank = Math.min(n - 1, Math.floor(q * n))
  let seen = 0
  for (const bin of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(bin)!
    if (seen > rank) return valueOf(bin)
  }
  return null
}

function add<K> (counts: Map<K, number>, key: K, n = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + n)
}

function addOutcomes (byMappings: Bucket['byMappings'], pair: string, connected: number, failed: number): void {
  const counts = byMappings.get(pair) ?? { connected: 0, failed: 0 }
  counts.connected += connected
  counts.failed += failed
  byMappings.set(pair, counts)
}

interface Bucket {
  connected: number
  relayed: number
  failed: number
  byVia: Map<string, number>
  byPath: Map<string, number>
  failures: Map<string, number>
  /** Reports by the introduction's pair of mappings: connected and failed. */
  byMappings: Map<string, { connected: number, failed: number }>
  /** Of direct connections only. */
  elapsed: Map<number, number>
  dials: Map<number, number>
  /** Of relayed connections. */
  relayedElapsed: Map<number, number>
}

const HISTOGRAMS = ['byVia', 'byPath', 'failures', 'elapsed', 'dials', 'relayedElapsed'] as const

function emptyBucket (): Bucket {
  return { connected: 0, relayed: 0, failed: 0, byVia: new Map(), byPath: new Map(), failures: new Map(), byMappings: new Map(), elapsed: new Map(), dials: new Map(), relayedElapsed: new Map() }
}

/** What one report adds to the statistics. */
export interface Counted {
  outcome: string
  via: string | null
  path: string | null
  errorCode: string | null
  /** The introduction's pair of mappings, e.g. "independent+dependent". */
  mappings: string
  elapsedMs: number
  dials: number
  createdAt: Date
}

export class PunchStatistics {
  /** Minute (ms since the epoch / 60 000) → its bucket. */
  readonly #buckets = new Map<number, Bucket>()

  add (report: Counted): void {
    const minute = Math.floor(report.createdAt.getTime() / MINUTE_MS)
    let bucket = this.#buckets.get(minute)
    if (bucket === undefined) {
      bucket = emptyBucket()
      this.#buckets.set(minute, bucket)
    }
    addOutcomes(bucket.byMappings, report.mappings, report.outcome === 'connected' ? 1 : 0, report.outcome === 'connected' ? 0 : 1)
    if (report.outcome === 'connected') {
      bucket.connected++
      add(bucket.byVia, report.via ?? 'unknown')
      add(bucket.byPath, report.path ?? 'unknown')
      if (report.path === 'relay') {
        bucket.relayed++
        add(bucket.relayedElapsed, binOf(report.elapsedMs))
      } else {
        add(bucket.elapsed, binOf(report.elapsedMs))
        add(bucket.dials, binOf(report.dials))
      }
    } else {
      bucket.failed++
      add(bucket.failures, report.errorCode ?? 'unknown')
    }
  }

  /** Forgets minutes older than the retention window. */
  prune (now: Date): void {
    const oldest = Math.floor((now.getTime() - REPORT_RETENTION_SECONDS * 1000) / MINUTE_MS)
    for (const minute of this.#buckets.keys()) if (minute < oldest) this.#buckets.delete(minute)
  }

  /** The statistics of the reports of the last `windowSeconds` before `now`, to the minute. */
  stats (windowSeconds: number, now: Date): PunchStats {
    this.prune(now)
    const since = new Date(now.getTime() - windowSeconds * 1000)
    const first = Math.floor(since.getTime() / MINUTE_MS)
    const total = emptyBucket()
    for (const [minute, bucket] of this.#buckets) {
      if (minute < first) continue
      total.connected += bucket.connected
      total.relayed += bucket.relayed
      total.failed += bucket.failed
      for (const key of HISTOGRAMS) {
        for (const [label, n] of bucket[key] as Map<string | number, number>) add(total[key] as Map<string | number, number>, label, n)
      }
      for (const [pair, { connected, failed }] of bucket.byMappings) addOutcomes(total.byMappings, pair, connected, failed)
    }
    const reports = total.connected + total.failed
    const direct = total.connected - total.relayed
    const dialsMedian = quantile(total.dials, direct, 0.5)
    return {
      windowSeconds,
      since: since.toISOString(),
      reports,
      connected: total.connected,
      direct,
      relayed: total.relayed,
      failed: total.failed,
      successRate: reports === 0 ? null : total.connected / reports,
      directRate: reports === 0 ? null : direct / reports,
      byVia: Object.fromEntries(total.byVia),
      byPath: Object.fromEntries(total.byPath),
      failures: Object.fromEntries(total.failures),
      byMappings: Object.fromEntries([...total.byMappings].map(([pair, { connected, failed }]) => [pair, { reports: connected + failed, connected, failed }])),
      elapsedMs: { median: quantile(total.elapsed, direct, 0.5), p95: quantile(total.elapsed, direct, 0.95) },
      relayedElapsedMs: { median: quantile(total.relayedElapsed, total.relayed, 0.5), p95: quantile(total.relayedElapsed, total.relayed, 0.95) },
      dialsMedian,
      attemptsMedian: dialsMedian
    }
  }
}
