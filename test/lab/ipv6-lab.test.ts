// IPv6 punching across real Linux firewalls: both sites have IPv4 behind
// MASQUERADE --random-fully (a new random port per connection: no IPv4 punch
// can work) and global IPv6 behind stateful ip6tables firewalls (established
// and related accepted; new inbound TCP reset at A, dropped at B). The server
// is reached by a name with an A and an AAAA record. `punchline peer`
// processes register over IPv4, have the server observe their IPv6 endpoint
// from their IPv6 punch port, and every trial must connect directly over
// IPv6 (not relayed, not IPv4). A summary table is printed at the end.
// Needs root and ip6tables; elsewhere the suite is skipped with the reason.
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, ipv6LabUnavailable } from '../../lab/lab.js'
import { ipv6BehindFirewalls } from '../../lab/profiles.js'
import { TRIAL_TIMEOUT_MS, trial, type TrialResult } from '../../lab/trial.js'
import { quantile } from '../../lab/statistics.js'

/** Trials per profile; PUNCHLINE_LAB_TRIALS overrides it (CI uses 10). */
const TRIALS = Number(process.env.PUNCHLINE_LAB_TRIALS ?? 10)
/** Only the profiles whose name matches, as in nat-lab.test.ts. */
const ONLY = process.env.PUNCHLINE_LAB_PROFILES === undefined ? undefined : new RegExp(process.env.PUNCHLINE_LAB_PROFILES)
const unavailable = ipv6LabUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (IPv6) skipped: ${unavailable}`)

const summary: string[] = []
afterAll(() => {
  if (summary.length === 0) return
  console.log([
    'NAT laboratory, IPv6: time from introduction to authenticated connection (initiator side)',
    '| profile | connected over IPv6 | via | median ms | p95 ms | max ms | median dials (IPv6 + IPv4) | max dials | median IPv6 dials |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary
  ].join('\n'))
})

/** A's dials of IPv6 candidates in a trial (the rest went to IPv4 candidates). */
function ipv6Dials (result: TrialResult): number {
  return result.a.events.filter((event) => event.event === 'dial' && String(event.candidate).includes('[')).length
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: IPv6 through stateful firewalls', () => {
  for (const delayMs of [0, 20]) {
    const name = `v6 IPv4 behind --random-fully on both sides, IPv6 firewalls (reset at A, drop at B), ${delayMs} ms`
    it.skipIf(ONLY !== undefined && !ONLY.test(name))(name, async () => {
      const lab = await Lab.create(ipv6BehindFirewalls(delayMs))
      try {
        const results: TrialResult[] = []
        for (let n = 1; n <= TRIALS; n++) {
          const result = await trial(lab, n, { a: 'host-a', b: 'host-b' })
          // Direct, over IPv6, between the two hosts' global addresses: not relayed, not IPv4.
          expect(result.via).toMatch(/^(connect|accept)$/)
          expect(result.path).toBe('public')
          expect(result.remote).toMatch(new RegExp(`^\\[${lab.ipv6AddressOf('host-b')}\\]:\\d+$`))
          expect(result.peerRemote).toMatch(new RegExp(`^\\[${lab.ipv6AddressOf('host-a')}\\]:\\d+$`))
          // The server observed each side's IPv6 endpoint (never reported by the peer), and both raced IPv4 alongside.
          for (const [run, host] of [[result.a, 'host-a'], [result.b, 'host-b']] as const) {
            expect(run.events.find((event) => event.event === 'ipv6-endpoint')).toMatchObject({ ipv6Endpoint: { address: lab.ipv6AddressOf(host) } })
            const introduced = run.events.find((event) => event.event === 'introduced')!
            expect(introduced.candidates.some((candidate: string) => candidate.startsWith('public ['))).toBe(true)
            expect(introduced.candidates.some((candidate: string) => /^public \d/.test(candidate))).toBe(true)
          }
          results.push(result)
        }
        const times = results.map((result) => result.elapsedMs).sort((x, y) => x - y)
        const dials = results.map((result) => result.dials).sort((x, y) => x - y)
        const v6 = results.map(ipv6Dials).sort((x, y) => x - y)
        const via = Object.entries(results.reduce<Record<string, number>>((counts, result) => ({ ...counts, [result.via]: (counts[result.via] ?? 0) + 1 }), {})).map(([value, count]) => `${value} ${count}`).join(', ')
        summary.push(`| ${name} | ${results.length}/${TRIALS} | ${via} | ${quantile(times, 0.5)} | ${quantile(times, 0.95)} | ${times.at(-1)!} | ${quantile(dials, 0.5)} | ${dials.at(-1)!} | ${quantile(v6, 0.5)} |`)
        console.log(`${name}: ${results.map((result) => `${result.via} ${result.remote} ${result.elapsedMs} ms ${result.dials} dials`).join('; ')}`)
      } finally {
        await lab.destroy()
      }
    }, TRIALS * TRIAL_TIMEOUT_MS + 60_000)
  }
})
