// The birthday strategy across real Linux NATs: one side behind MASQUERADE
// --random-fully (a new random public port per connection), the other behind
// plain MASQUERADE, `punchline peer` processes as users run them. What the
// consistent side's NAT does with unsolicited SYNs decides which half of the
// strategy can work (bench/randomizing-nat.md): dropping, the randomizing
// side's sockets wait for the spray; resetting, the spray must be there first.
// Both randomizing: nothing is dialed, both sides use the relay at once. Profile 7 (both
// NATs resetting) is measured in bench/spray.ts: it connects only by chance.
// Needs root; elsewhere the suite is skipped with the reason.
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, labUnavailable } from '../../lab/lab.js'
import { oneRandomizingNatConsistentResets, oneRandomizingNatDropping, twoRandomizingNats } from '../../lab/profiles.js'
import { TRIAL_TIMEOUT_MS, brief, trial } from '../../lab/trial.js'
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

  it.skipIf(ONLY !== undefined && !ONLY.test('8 '))('8 both --random-fully: relayed at once on both sides, with no spray and no SYN towards the other', async () => {
    const lab = await Lab.create(twoRandomizingNats(0))
    try {
      const aSyns = countSyns(lab, 'host-a', NAT_B)
      const bSyns = countSyns(lab, 'host-b', NAT_A)
      const result = await trial(lab, 1, { a: 'host-a', b: 'host-b', awaitMapping: true })
      expect(result).toMatchObject({ via: 'relay', path: 'relay', peerVia: 'relay', dials: 0 })
      for (const run of [result.a, result.b]) {
        expect(run.events.find((event) => event.event === 'introduced')).toMatchObject({ strategy: 'relay-now' })
        expect(run.events.find((event) => event.event === 'relay-attaching')).toMatchObject({ reason: 'mappings' })
        expect(run.events.map((event) => event.event)).not.toContain('spray-started')
      }
      expect({ aSyns: aSyns(), bSyns: bSyns() }).toEqual({ aSyns: 0, bSyns: 0 })
      summary.push(`| 8 both random | 1/1 relayed at once (A ${result.elapsedMs.toFixed(0)} ms) | - | - | - | 0 | 0 | 0 | 0 | 0 |`)
      console.log(`8: A ${brief(result.a)}`)
    } finally {
      await lab.destroy()
    }
  }, TRIAL_TIMEOUT_MS + 90_000)
})
