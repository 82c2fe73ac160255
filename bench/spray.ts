// The birthday strategy in the NAT laboratory (one side behind MASQUERADE
// --random-fully, the other behind plain MASQUERADE), 20 trials per profile:
// how often it connects directly, how long it takes, and what it costs in
// dials and SYNs (iptables counters in the hosts, retransmissions included).
// What each NAT does with unsolicited SYNs is varied; bench/randomizing-nat.md
// keeps the last results and what they mean.
// Run as root after npm run build: npx tsx --conditions=@punchline/source bench/spray.ts [PROFILE-NUMBERS...]
import { writeFileSync } from 'node:fs'
import { labUnavailable, type LabSpec } from '../lab/lab.js'
import { oneRandomizingNat, oneRandomizingNatConsistentResets, oneRandomizingNatDropping } from '../lab/profiles.js'
import { SPRAY_TABLE_HEADER, sprayRow, sprayTrials, type SprayOutcome } from '../lab/spray-trials.js'

const TRIALS = Number(process.env.PUNCHLINE_BENCH_TRIALS ?? 20)

const PROFILES: Array<{ id: string, name: string, spec: LabSpec, trials: number }> = [
  { id: '9', name: '9 A random, both drop, 0 ms', spec: oneRandomizingNatDropping(0), trials: TRIALS },
  { id: '10', name: '10 A random and dropping, B resets, 0 ms', spec: oneRandomizingNatConsistentResets(0), trials: TRIALS },
  { id: '9', name: '9 A random, both drop, 20 ms per WAN link', spec: oneRandomizingNatDropping(20), trials: TRIALS },
  { id: '10', name: '10 A random and dropping, B resets, 20 ms per WAN link', spec: oneRandomizingNatConsistentResets(20), trials: TRIALS },
  // Both NATs reset: no order of the two halves works (bench/randomizing-nat.md, section 3); a failed trial costs the 30 s trial timeout.
  { id: '7', name: '7 A random, both reset, 0 ms', spec: oneRandomizingNat(0), trials: Math.min(TRIALS, 10) },
  // With delay, each side's mappings live one round trip before the other NAT's reset removes them: a window the spray can hit.
  { id: '7', name: '7 A random, both reset, 20 ms per WAN link', spec: oneRandomizingNat(20), trials: Math.min(TRIALS, 10) }
]

const unavailable = labUnavailable()
if (unavailable !== undefined) {
  console.error(`spray benchmark skipped: ${unavailable}`)
  process.exit(1)
}
const only = process.argv.slice(2)
const rows: string[] = []
const results: Array<{ profile: string, outcomes: SprayOutcome[] }> = []
for (const profile of PROFILES.filter((candidate) => only.length === 0 || only.includes(candidate.id))) {
  const outcomes = await sprayTrials(profile.spec, profile.trials, (line) => { console.error(`${profile.name}: ${line}`) })
  rows.push(sprayRow(profile.name, outcomes))
  results.push({ profile: profile.name, outcomes: outcomes.map(({ why, ...outcome }) => ({ ...outcome, ...(why !== undefined ? { why: why.slice(0, 300) } : {}) })) })
  console.error(rows.at(-1))
}
const table = [...SPRAY_TABLE_HEADER, ...rows].join('\n')
console.log(table)
if (only.length === 0) writeFileSync(new URL('spray-results.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), trials: TRIALS, table, results }, null, 1) + '\n')
