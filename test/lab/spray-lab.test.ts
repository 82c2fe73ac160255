// The birthday strategy across real Linux NATs: one side behind MASQUERADE
// --random-fully (a new random public port per connection), the other behind
// plain MASQUERADE, `punchline peer` processes as users run them. What the
// consistent side's NAT does with unsolicited SYNs decides which half of the
// strategy can work (bench/randomizing-nat.md): dropping, the randomizing
// side's sockets wait for the spray; resetting, the spray must be there first.
// Both randomizing: nothing is dialed, the punch fails at once. Profile 7 (both
// NATs resetting) is measured in bench/spray.ts: it connects only by chance.
// Needs root; elsewhere the suite is skipped with the reason.
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, labUnavailable } from '../../lab/lab.js'
import { oneRandomizingNatConsistentResets, oneRandomizingNatDropping, twoRandomizingNats } from '../../lab/profiles.js'
import { TRIAL_TIMEOUT_MS, brief, watch } from '../../lab/trial.js'
import { NAT_A, NAT_B, SPRAY_TABLE_HEADER, countSyns, sprayRow, sprayTrials, type SprayOutcome } from '../../lab/spray-trials.js'

/** Trials of the profile the issue sets a bar for (9: at least 90% direct); PUNCHLINE_LAB_SPRAY_TRIALS overrides it. */
const TRIALS = Number(process.env.PUNCHLINE_LAB_SPRAY_TRIALS ?? 20)
/** Trials of profile 10 (the consistent NAT resets), whose 20-trial figures are in bench/spray.ts. */
const RESET_TRIALS = Number(process.env.PUNCHLINE_LAB_SPRAY_RESET_TRIALS ?? 5)
const ONLY = process.env.PUNCHLINE_LAB_PROFILES === undefined ? undefined : new RegExp(process.env.PUNCHLINE_LAB_PROFILES)
const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (spray) skipped: ${unavailable}`)

const summary: string[] = []
afterAll(() => {
  if (summary.length === 0) return
  console.log([
    'NAT laboratory, one randomizing NAT (A behind --random-fully, B behind plain MASQUERADE): time from introduction to authenticated connection (A) and cost',
    ...SPRAY_TABLE_HEADER,
    ...summary
  ].join('\n'))
})

/** Every trial that connected did so directly, by the spray strategy. */
function checkConnected (outcomes: SprayOutcome[]): void {
  for (const outcome of outcomes.filter((o) => o.connected)) {
    expect(outcome.strategy).toBe('spray')
    expect(outcome.aSpray).toMatchObject({ role: 'open', reason: 'authenticated' })
    expect(outcome.bSpray).toMatchObject({ role: 'spray', reason: 'authenticated' })
  }
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: one randomizing NAT', () => {
  it.skipIf(ONLY !== undefined && !ONLY.test('9 '))(`9 A --random-fully, both NATs drop unsolicited SYNs: at least 90% of ${TRIALS} trials connect directly`, async () => {
    const outcomes = await sprayTrials(oneRandomizingNatDropping(0), TRIALS, console.log)
    summary.push(sprayRow('9 A random, both drop, 0 ms', outcomes))
    checkConnected(outcomes)
    expect(outcomes.filter((outcome) => outcome.connected).length).toBeGreaterThanOrEqual(Math.ceil(TRIALS * 0.9))
  }, TRIALS * TRIAL_TIMEOUT_MS + 60_000)

  // The randomizing side's first sockets are refused by B's NAT; their replacements, once B's spray has passed, get in.
  it.skipIf(ONLY !== undefined && !ONLY.test('10 '))(`10 A --random-fully and dropping, B (consistent) resetting: at least 60% of ${RESET_TRIALS} trials connect directly`, async () => {
    const outcomes = await sprayTrials(oneRandomizingNatConsistentResets(0), RESET_TRIALS, console.log)
    summary.push(sprayRow('10 A random and dropping, B resets, 0 ms', outcomes))
    checkConnected(outcomes)
    for (const outcome of outcomes.filter((o) => o.connected)) expect(outcome.aSpray!.refused).toBeGreaterThan(0)
    expect(outcomes.filter((outcome) => outcome.connected).length).toBeGreaterThanOrEqual(Math.ceil(RESET_TRIALS * 0.6))
  }, RESET_TRIALS * TRIAL_TIMEOUT_MS + 60_000)

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
      // Both failures reach the server's statistics, under the pair and the code (B reports after A has exited and deregistered).
      const stats = JSON.parse(lab.run('host-b', process.execPath, ['-e', `fetch('${lab.serverUrl}/v1/stats/punches').then((r) => r.text()).then(console.log)`]))
      expect(stats).toMatchObject({ reports: 2, connected: 0, failed: 2, failures: { PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT: 2 }, byMappings: { 'dependent+dependent': { reports: 2, failed: 2 } } })
      summary.push(`| 8 both random | 0/1 (fails at once: A ${aFailed!.elapsedMs as number} ms, B ${bFailed.elapsedMs as number} ms) | - | - | - | 0 | 0 | 0 | 0 | 0 |`)
      console.log(`8: A ${brief(aRun)}`)
    } finally {
      await lab.destroy()
    }
  }, 60_000)
})
