// Mapping detection across real Linux NATs, for every profile of the
// laboratory and for a pair behind two randomizing NATs: `punchline peer`
// processes register and probe the server's mapping port (8081, beside 8080)
// from their punch port, through iptables MASQUERADE (endpoint-independent)
// or MASQUERADE --random-fully (a new random port per connection:
// endpoint-dependent). Each peer's own `mapping` event must say what its NAT
// does, and the server must count both punch reports under the pair (which it
// takes from the introduction, not from the peers): connected in every
// profile, directly for the punchable ones (one randomizing NAT is sprayed)
// and through the relay for two randomizing ones (which plan from these
// verdicts: sdk/punch/strategy.ts).
// Needs root; elsewhere the suite is skipped with the reason.
import { afterAll, describe, expect, it } from 'vitest'
import { Lab, labUnavailable, type LabSpec } from '../../lab/lab.js'
import { watch } from '../../lab/trial.js'
import { PUBLIC_AND_NAT, SAME_NAT, SAME_PRIVATE_ADDRESSES, droppingNats, lateTarget, oneRandomizingNatDropping, resetNats, twoRandomizingNats } from '../../lab/profiles.js'
import { mappingPairOf, type Mapping } from '@punchline/protocol'

const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (mapping) skipped: ${unavailable}`)


interface Profile {
  name: string
  spec: LabSpec
  /** Whether the pair punches (all but two randomizing NATs, which are relayed at once). */
  connects: boolean
}

const profiles: Profile[] = [
  { name: '1 reset NATs', spec: resetNats(0), connects: true },
  { name: '2 dropping NATs', spec: droppingNats(0), connects: true },
  { name: '3 same NAT, no hairpin', spec: SAME_NAT, connects: true },
  { name: '4 A public, B behind NAT', spec: PUBLIC_AND_NAT, connects: true },
  { name: '5 B learns 300 ms late', spec: lateTarget(0), connects: true },
  { name: '6 same private addresses, 20 ms', spec: SAME_PRIVATE_ADDRESSES, connects: true },
  // Profile 7's NATs answer unsolicited SYNs with resets, which the spray gets through only by chance (spray-lab.test.ts); these drop them.
  { name: '9 A behind --random-fully', spec: oneRandomizingNatDropping(0), connects: true },
  { name: '8 both behind --random-fully', spec: twoRandomizingNats(0), connects: false }
]

/** What a host's NAT does, from the lab's own description: the answer the probe must find. */
function expectedMapping (spec: LabSpec, host: string): Mapping {
  const nat = spec.hosts.find((candidate) => candidate.name === host)!.nat
  if (nat === null) return 'independent' // no NAT: the server sees the host's own port from both of its ports
  return spec.nats.find((candidate) => candidate.name === nat)!.mapping === 'random' ? 'dependent' : 'independent'
}

const summary: string[] = []
afterAll(() => {
  if (summary.length === 0) return
  console.log(['NAT laboratory: mapping detection', '| profile | A | B | reports counted under |', '| --- | --- | --- | --- |', ...summary].join('\n'))
})

describe.skipIf(unavailable !== undefined)('NAT laboratory: mapping detection', () => {
  for (const profile of profiles) {
    it(`${profile.name}: A ${expectedMapping(profile.spec, 'host-a')}, B ${expectedMapping(profile.spec, 'host-b')}`, async () => {
      const lab = await Lab.create(profile.spec)
      try {
        const common = ['peer', '--server', lab.serverUrl, '--json', '--timeout', '10']
        const bProcess = lab.punchline('host-b', [...common, '--id', 'b'])
        const b = watch(bProcess)
        // B's verdict first, so that the introduction is sure to carry it.
        const bMapping = await Promise.race([
          b.event('mapping'),
          b.event('mapping-unknown').then((event) => { throw new Error(`B has no mapping verdict: ${JSON.stringify(event)}`) })
        ])
        const aProcess = lab.punchline('host-a', [...common, '--id', 'a', '--connect', 'b'])
        const a = watch(aProcess)
        aProcess.stdin!.end('from a\n')
        bProcess.stdin!.end('from b\n')
        const aRun = await a.done
        const aMapping = aRun.events.find((event) => event.event === 'mapping')

        for (const [host, seen] of [['host-a', aMapping], ['host-b', bMapping]] as const) {
          const expected = expectedMapping(profile.spec, host)
          expect(seen, `${host}'s mapping event`).toMatchObject({ mapping: expected })
          // What the server saw from its two ports: one port twice, or two ports of one address.
          expect(seen!.probeEndpoint.address).toBe(seen!.publicEndpoint.address)
          if (expected === 'independent') expect(seen!.probeEndpoint.port).toBe(seen!.publicEndpoint.port)
          else expect(seen!.probeEndpoint.port).not.toBe(seen!.publicEndpoint.port)
        }
        // A's introduction waited for A's verdict.
        const order = aRun.events.map((event) => event.event)
        expect(order.indexOf('mapping')).toBeLessThan(order.indexOf('introduced'))
        expect(aRun.code, 'A connects and exits 0').toBe(0)
        expect(aRun.stdout).toBe('from b\n')
        expect(aRun.events.find((event) => event.event === 'connected')).toMatchObject({ path: profile.connects ? expect.stringMatching(/^(public|private)$/) : 'relay' })
        await b.event('outcome-reported')

        const pair = mappingPairOf(expectedMapping(profile.spec, 'host-a'), expectedMapping(profile.spec, 'host-b'))
        const stats = JSON.parse(lab.run('host-b', process.execPath, ['-e', `fetch('${lab.serverUrl}/v1/stats/punches').then((r) => r.text()).then(console.log)`]))
        expect(stats.byMappings).toEqual({ [pair]: { reports: 2, connected: 2, failed: 0 } })
        expect(stats).toMatchObject({ direct: profile.connects ? 2 : 0, relayed: profile.connects ? 0 : 2 })
        summary.push(`| ${profile.name} | ${aMapping!.mapping as string} (${aMapping!.publicEndpoint.port as number} / ${aMapping!.probeEndpoint.port as number}) | ${bMapping.mapping as string} (${bMapping.publicEndpoint.port as number} / ${bMapping.probeEndpoint.port as number}) | ${pair}: connected 2${profile.connects ? '' : ', relayed'} |`)
      } finally {
        await lab.destroy()
      }
    }, 90_000)
  }
})
