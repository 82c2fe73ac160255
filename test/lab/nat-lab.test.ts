// Punching across real Linux NATs (iptables MASQUERADE in network
// namespaces), with `punchline peer` processes as users run them. Each
// profile runs its trials and must connect every one of them: the punchable
// ones (1-6) directly in every trial (the relay must not steal a connection
// that would have punched), the pair behind NATs that both give every
// connection a new port (8) through the relay at once, 256 KiB each way
// checked by SHA-256. One randomizing NAT (profiles 7, 9, 10: sprayed) has its
// own file, spray-lab.test.ts. A summary table of via, path and time to the
// authenticated connection is printed at the end. Needs root; elsewhere the
// suite is skipped with the reason.
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, labUnavailable, type LabSpec } from '../../lab/lab.js'
import { PUBLIC_AND_NAT, SAME_NAT, SAME_PRIVATE_ADDRESSES, droppingNats, lateTarget, resetNats, twoRandomizingNats } from '../../lab/profiles.js'
import { TRIAL_TIMEOUT_MS, brief, dialStory, trial, watch, type TrialResult } from '../../lab/trial.js'
import { quantile } from '../../lab/statistics.js'

/** Trials per profile; PUNCHLINE_LAB_TRIALS overrides it for a quick local look (CI uses 10). */
const TRIALS = Number(process.env.PUNCHLINE_LAB_TRIALS ?? 10)
/** Only the profiles whose name matches, e.g. "^(1 reset NATs, 0 ms|3 )" (the Node-version matrix runs a few). */
const ONLY = process.env.PUNCHLINE_LAB_PROFILES === undefined ? undefined : new RegExp(process.env.PUNCHLINE_LAB_PROFILES)
const SLOW_TRIAL_MS = 1000
const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory skipped: ${unavailable}`)

const summary: string[] = []
/** Per punchable profile: the slowest side's time to its direct connection, and whether any side began to attach to the relay. */
const headStart: string[] = []
function record (profile: string, results: TrialResult[]): void {
  const times = results.map((result) => result.elapsedMs).sort((x, y) => x - y)
  const dials = results.map((result) => result.dials).sort((x, y) => x - y)
  const count = (key: keyof TrialResult): string => Object.entries(results.reduce<Record<string, number>>((counts, result) => {
    counts[String(result[key])] = (counts[String(result[key])] ?? 0) + 1
    return counts
  }, {})).map(([value, n]) => `${value} ${n}`).join(', ')
  summary.push(`| ${profile} | ${results.length}/${TRIALS} | ${count('via')} | ${count('path')} | ${quantile(times, 0.5)} | ${quantile(times, 0.95)} | ${times.at(-1)!} | ${quantile(dials, 0.5)} | ${dials.at(-1)!} |`)
  console.log(`${profile}: ${results.map((result) => `${result.via}/${result.path} ${result.elapsedMs} ms ${result.dials} dials`).join('; ')}`)
}

afterAll(() => {
  if (headStart.length > 0) console.log(['Relay head start: slowest direct connection per profile, either side', ...headStart].join('\n'))
  if (summary.length === 0) return
  console.log([
    'NAT laboratory: time from introduction to authenticated connection (initiator side)',
    '| profile | connected | via | path | median ms | p95 ms | max ms | median dials | max dials |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...summary
  ].join('\n'))
})

interface Profile {
  name: string
  spec: LabSpec
  setup?: (lab: Lab) => Promise<void> | void
  bPort?: number
  expectPath?: string
  check?: (results: TrialResult[]) => void
}

const STRANGER_PORT = 47000
/** What each side sends over a relayed connection: more than a line, well under the relay's rate a second. */
const RELAYED_PAYLOAD_BYTES = 256 * 1024
const profiles: Profile[] = [
  ...[0, 20].flatMap((delayMs): Profile[] => [
    { name: `1 reset NATs, ${delayMs} ms`, spec: resetNats(delayMs) },
    { name: `2 dropping NATs, ${delayMs} ms`, spec: droppingNats(delayMs) },
    { name: `5 B learns 300 ms late, reset NATs, ${delayMs} ms`, spec: lateTarget(delayMs) }
  ]),
  {
    name: '3 same NAT, no hairpin',
    spec: SAME_NAT,
    expectPath: 'private'
  },
  {
    name: '4 A public, B behind NAT',
    spec: PUBLIC_AND_NAT
  },
  {
    name: '6 same private addresses, stranger at B\'s, 20 ms',
    spec: SAME_PRIVATE_ADDRESSES,
    bPort: STRANGER_PORT,
    expectPath: 'public',
    // A reached the stranger in every trial and authentication turned it away.
    check: (results) => {
      for (const result of results) expect(result.rejected).toContainEqual(expect.stringMatching(new RegExp(`^10\\.0\\.0\\.3:${STRANGER_PORT}: `)))
    },
    setup: async (lab) => {
      // A service on A's LAN at exactly B's private endpoint: it accepts, greets, and echoes (and outlives resets).
      const stranger = lab.spawn('stranger', process.execPath, ['-e', `require('net').createServer((s) => { s.on('error', () => {}); s.write('SSH-2.0-OpenSSH_9.2\\r\\n'); s.pipe(s) }).listen(${STRANGER_PORT}, '10.0.0.3', () => console.log('listening'))`])
      await new Promise((resolve) => createInterface({ input: stranger.stdout! }).once('line', resolve))
    }
  }
]

describe.skipIf(unavailable !== undefined)('NAT laboratory', () => {
  for (const profile of profiles) {
    it.skipIf(ONLY !== undefined && !ONLY.test(profile.name))(profile.name, async () => {
      const lab = await Lab.create(profile.spec)
      try {
        await profile.setup?.(lab)
        const results: TrialResult[] = []
        for (let n = 1; n <= TRIALS; n++) {
          const result = await trial(lab, n, { a: 'host-a', b: 'host-b', bPort: profile.bPort })
          const slowest = Math.max(...[result.a, result.b].map((run) => run.events.find((event) => event.event === 'connected')?.elapsedMs ?? Infinity))
          if (slowest > SLOW_TRIAL_MS || result.via === 'relay' || result.peerVia === 'relay') {
            console.log(`slow trial ${n} (${result.via}/${result.peerVia}): A: ${brief(result.a)}\n  A's dials: ${dialStory(result.a)}\n  B: ${brief(result.b)}\n  B's dials: ${dialStory(result.b)}`)
          }
          // Directly, never through the relay: the head start must leave every punchable profile its direct connection.
          expect(result).toMatchObject({ via: expect.stringMatching(/^(connect|accept)$/), path: expect.stringMatching(/^(public|private)$/), elapsedMs: expect.any(Number), dials: expect.any(Number) })
          expect(result.peerVia).not.toBe('relay')
          results.push(result)
        }
        record(profile.name, results)
        const slowest = Math.max(...results.flatMap((result) => [result.a, result.b].map((run) => run.events.find((event) => event.event === 'connected')!.elapsedMs as number)))
        const attached = results.filter((result) => [result.a, result.b].some((run) => run.events.some((event) => event.event === 'relay-attaching'))).length
        headStart.push(`${profile.name}: ${slowest} ms; trials in which a side began to attach to the relay: ${attached}`)
        if (profile.expectPath !== undefined) expect(results.map((result) => result.path)).toEqual(Array(TRIALS).fill(profile.expectPath))
        profile.check?.(results)
      } finally {
        await lab.destroy()
      }
    }, TRIALS * TRIAL_TIMEOUT_MS + 60_000)
  }

  // What the README's troubleshooting table says of two NATs that map every connection to a new port: relayed, every time, at once.
  const relayed: Array<{ name: string, spec: LabSpec, pair: string, strategy: string }> = [
    { name: '8 both behind --random-fully: relayed at once', spec: twoRandomizingNats(0), pair: 'dependent+dependent', strategy: 'relay-now' }
  ]
  for (const profile of relayed) {
    it.skipIf(ONLY !== undefined && !ONLY.test(profile.name))(profile.name, async () => {
      const lab = await Lab.create(profile.spec)
      try {
        const results: TrialResult[] = []
        for (let n = 1; n <= TRIALS; n++) {
          // Both peers' mappings known first: the introduction carries them, and both sides plan from them.
          const result = await trial(lab, n, { a: 'host-a', b: 'host-b', payloadBytes: RELAYED_PAYLOAD_BYTES, awaitMapping: true })
          expect(result).toMatchObject({ via: 'relay', path: 'relay', peerVia: 'relay' })
          for (const run of [result.a, result.b]) {
            expect(run.events.find((event) => event.event === 'introduced')).toMatchObject({ strategy: profile.strategy })
            expect(run.events.find((event) => event.event === 'connected')).toMatchObject({ via: 'relay', path: 'relay', encrypted: true })
          }
          if (profile.strategy === 'relay-now') expect(result.dials).toBe(0)
          results.push(result)
        }
        record(profile.name, results)
        const stats = JSON.parse(lab.run('host-b', process.execPath, ['-e', `fetch('${lab.serverUrl}/v1/stats/punches').then((r) => r.text()).then(console.log)`]))
        expect(stats).toMatchObject({ reports: 2 * TRIALS, connected: 2 * TRIALS, direct: 0, relayed: 2 * TRIALS, failed: 0, byMappings: { [profile.pair]: { reports: 2 * TRIALS, connected: 2 * TRIALS } } })
      } finally {
        await lab.destroy()
      }
    }, TRIALS * TRIAL_TIMEOUT_MS + 60_000)
  }
})
