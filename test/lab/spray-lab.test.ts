// The birthday strategy across real Linux NATs: one side behind MASQUERADE
// --random-fully (a new random public port per connection), the other behind
// plain MASQUERADE, `punchline peer` processes as users run them. What the
// consistent side's NAT does with unsolicited SYNs decides which half of the
// strategy can work (bench/randomizing-nat.md): dropping, the randomizing
// side's sockets wait for the spray; resetting, the spray must be there first.
// Both randomizing: nothing is dialed, the punch fails at once.
// Needs root; elsewhere the suite is skipped with the reason.
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, labUnavailable, type LabSpec } from '../../lab/lab.js'
import { oneRandomizingNat, oneRandomizingNatConsistentResets, oneRandomizingNatDropping, twoRandomizingNats } from '../../lab/profiles.js'
import { TRIAL_TIMEOUT_MS, brief, trial, watch, type PeerRun } from '../../lab/trial.js'
import { quantile } from '../../lab/statistics.js'

/** Trials of the profile the issue sets a bar for (9); PUNCHLINE_LAB_SPRAY_TRIALS overrides it. */
const TRIALS = Number(process.env.PUNCHLINE_LAB_SPRAY_TRIALS ?? 20)
/** Trials of the profiles whose figures are only reported. */
const REPORTED_TRIALS = Number(process.env.PUNCHLINE_LAB_SPRAY_REPORTED_TRIALS ?? 5)
const ONLY = process.env.PUNCHLINE_LAB_PROFILES === undefined ? undefined : new RegExp(process.env.PUNCHLINE_LAB_PROFILES)
const NAT_A = '100.64.1.2'
const NAT_B = '100.64.2.2'
const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (spray) skipped: ${unavailable}`)

interface Outcome {
  connected: boolean
  elapsedMs: number
  /** Dials of A (the randomizing side: sockets opened, race dials) and of B (spray dials, race dials). */
  aDials: number
  bDials: number
  /** SYNs each host sent towards the other's NAT, retransmissions included (iptables counters). */
  aSyns: number
  bSyns: number
  why?: string
}

/** Counts every SYN a host sends to `address` from now on (an ACCEPT rule's counters in its OUTPUT chain). */
function countSyns (lab: Lab, host: string, address: string): () => number {
  lab.run(host, 'iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--syn', '-d', address, '-j', 'ACCEPT'])
  lab.run(host, 'iptables', ['-Z', 'OUTPUT'])
  return () => Number(lab.run(host, 'iptables', ['-L', 'OUTPUT', '-v', '-x', '-n']).split('\n').find((line) => line.includes(address))!.trim().split(/\s+/)[0])
}

function sprayEnded (run: PeerRun): Record<string, any> | undefined {
  return run.events.find((event) => event.event === 'spray-ended')
}

const summary: string[] = []
function record (profile: string, outcomes: Outcome[]): void {
  const connected = outcomes.filter((outcome) => outcome.connected)
  const sorted = (values: number[]): number[] => [...values].sort((x, y) => x - y)
  const median = (values: number[]): string => values.length === 0 ? '-' : String(quantile(sorted(values), 0.5))
  const max = (values: number[]): string => values.length === 0 ? '-' : String(sorted(values).at(-1))
  summary.push(`| ${profile} | ${connected.length}/${outcomes.length} | ${median(connected.map((o) => o.elapsedMs))} | ${max(connected.map((o) => o.elapsedMs))} | ` +
    `${median(connected.map((o) => o.aDials))} | ${median(connected.map((o) => o.bDials))} | ${median(connected.map((o) => o.aSyns))} | ${median(connected.map((o) => o.bSyns))} | ${max(outcomes.map((o) => o.aSyns + o.bSyns))} |`)
  console.log(`${profile}: ${outcomes.map((o) => o.connected ? `${o.elapsedMs} ms, A ${o.aDials} dials/${o.aSyns} SYNs, B ${o.bDials}/${o.bSyns}` : `FAILED (${o.why ?? ''})`).join('; ')}`)
}

afterAll(() => {
  if (summary.length === 0) return
  console.log([
    'NAT laboratory, one randomizing NAT (A behind --random-fully, B behind plain MASQUERADE): time from introduction to authenticated connection (A) and cost',
    '| profile | connected | median ms | max ms | median dials A | median dials B | median SYNs A | median SYNs B | most SYNs (A + B) of a trial |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary
  ].join('\n'))
})

/** Runs `trials` trials on one lab; a failed trial is an outcome, not an exception. */
async function runTrials (spec: LabSpec, trials: number): Promise<Outcome[]> {
  const lab = await Lab.create(spec)
  try {
    const outcomes: Outcome[] = []
    for (let n = 1; n <= trials; n++) {
      const aSyns = countSyns(lab, 'host-a', NAT_B)
      const bSyns = countSyns(lab, 'host-b', NAT_A)
      try {
        const result = await trial(lab, n, { a: 'host-a', b: 'host-b', waitForMapping: true })
        expect(result.a.events.find((event) => event.event === 'strategy')).toMatchObject({ strategy: 'spray', mappings: { self: 'dependent', peer: 'independent' } })
        expect(result.path).toBe('public')
        outcomes.push({ connected: true, elapsedMs: result.elapsedMs, aDials: result.dials, bDials: result.peerDials, aSyns: aSyns(), bSyns: bSyns() })
        console.log(`trial ${n}: A ${JSON.stringify(sprayEnded(result.a))}\n  B ${JSON.stringify(sprayEnded(result.b))}`)
      } catch (error) {
        outcomes.push({ connected: false, elapsedMs: 0, aDials: 0, bDials: 0, aSyns: aSyns(), bSyns: bSyns(), why: (error as Error).message.slice(0, 2000) })
      } finally {
        lab.run('host-a', 'iptables', ['-F', 'OUTPUT'])
        lab.run('host-b', 'iptables', ['-F', 'OUTPUT'])
      }
    }
    return outcomes
  } finally {
    await lab.destroy()
  }
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: one randomizing NAT', () => {
  it.skipIf(ONLY !== undefined && !ONLY.test('9 '))(`9 A --random-fully, both NATs drop unsolicited SYNs: at least 90% of ${TRIALS} trials connect directly`, async () => {
    const outcomes = await runTrials(oneRandomizingNatDropping(0), TRIALS)
    record('9 A random, both drop, 0 ms', outcomes)
    for (const outcome of outcomes.filter((o) => !o.connected)) console.log(`failed trial: ${outcome.why ?? ''}`)
    expect(outcomes.filter((outcome) => outcome.connected).length).toBeGreaterThanOrEqual(Math.ceil(TRIALS * 0.9))
  }, TRIALS * TRIAL_TIMEOUT_MS + 60_000)

  it.skipIf(ONLY !== undefined && !ONLY.test('10 '))('10 A --random-fully and dropping, B resetting: figures', async () => {
    const outcomes = await runTrials(oneRandomizingNatConsistentResets(0), REPORTED_TRIALS)
    record('10 A random and dropping, B resets, 0 ms', outcomes)
    for (const outcome of outcomes.filter((o) => !o.connected)) console.log(`failed trial: ${outcome.why ?? ''}`)
    expect(outcomes.length).toBe(REPORTED_TRIALS)
  }, REPORTED_TRIALS * TRIAL_TIMEOUT_MS + 60_000)

  it.skipIf(ONLY !== undefined && !ONLY.test('7 '))('7 A --random-fully, both NATs resetting: figures', async () => {
    const outcomes = await runTrials(oneRandomizingNat(0), REPORTED_TRIALS)
    record('7 A random, both reset, 0 ms', outcomes)
    for (const outcome of outcomes.filter((o) => !o.connected)) console.log(`failed trial: ${outcome.why ?? ''}`)
    expect(outcomes.length).toBe(REPORTED_TRIALS)
  }, REPORTED_TRIALS * TRIAL_TIMEOUT_MS + 60_000)

  it.skipIf(ONLY !== undefined && !ONLY.test('8 '))('8 both --random-fully: fails at once on both sides, with no SYN towards the other', async () => {
    const lab = await Lab.create(twoRandomizingNats(0))
    try {
      const aSyns = countSyns(lab, 'host-a', NAT_B)
      const bSyns = countSyns(lab, 'host-b', NAT_A)
      const common = ['peer', '--server', lab.serverUrl, '--json', '--timeout', '10']
      const b = watch(lab.punchline('host-b', [...common, '--id', 'b']))
      expect(await b.event('mapping')).toMatchObject({ mapping: 'dependent' })
      const a = watch(lab.punchline('host-a', [...common, '--id', 'a', '--connect', 'b']))
      const aRun = await a.done
      const bFailed = await b.event('failed')
      expect(aRun.code).toBe(1)
      expect(aRun.events.find((event) => event.event === 'strategy')).toMatchObject({ strategy: 'relay-now', mappings: { self: 'dependent', peer: 'dependent' } })
      const aFailed = aRun.events.find((event) => event.event === 'failed')
      for (const failed of [aFailed, bFailed]) expect(failed).toMatchObject({ code: 'PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT', dials: 0 })
      // At once: within a second of the introduction (the 10 s punch timeout is not waited for).
      expect(aFailed!.elapsedMs).toBeLessThan(1000)
      expect(bFailed.elapsedMs).toBeLessThan(1000)
      expect(aRun.events.find((event) => event.event === 'error')).toMatchObject({ code: 'PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT' })
      for (const run of [aRun.events, b.events()]) expect(run.map((event) => event.event)).not.toContain('spray-started')
      await b.event('outcome-reported')
      expect({ aSyns: aSyns(), bSyns: bSyns() }).toEqual({ aSyns: 0, bSyns: 0 })
      summary.push(`| 8 both random | 0/1 (fails at once: A ${aFailed!.elapsedMs as number} ms, B ${bFailed.elapsedMs as number} ms) | - | - | 0 | 0 | 0 | 0 | 0 |`)
      console.log(`8: A ${brief(aRun)}`)
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})
