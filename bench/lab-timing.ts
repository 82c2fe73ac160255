// Time to an authenticated direct connection in the NAT laboratory with 20 ms
// of one-way delay on each WAN link, against the floor, and the SYNs each
// punch costs (counted by iptables in the hosts' namespaces, kernel
// retransmissions included, the peers' connections to the server excluded).
// Each trial runs twice, in alternating order: as users run it (TLS 1.3 on
// the winner) and with --no-encrypt, so that what TLS costs is a difference
// measured under the same load.
import { Lab, SERVER_ADDRESS, labUnavailable, type LabSpec } from '../lab/lab.js'
import { trial } from '../lab/trial.js'
import { quantile } from '../lab/statistics.js'

export const TRIALS = 20
export const DELAY_MS = 20
const LATE_MS = 300

interface Profile {
  name: string
  spec: LabSpec
  /** Round trip between the two peers. */
  rttMs: number
  /** How much later the second peer learns of the introduction than the first (delivery skew). */
  lateMs: number
}

const natted = (name: string, lan: string, lateMs?: number, unsolicited: 'reset' | 'drop' = 'reset') =>
  ({ name, unsolicited, delayMs: DELAY_MS, lan, ...(lateMs !== undefined ? { serverExtraDelayMs: lateMs } : {}) })

export const PROFILES: Profile[] = [
  { name: '1 reset NATs', rttMs: 4 * DELAY_MS, lateMs: 0, spec: { nats: [natted('a', '10.0.1'), natted('b', '10.0.2')], hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }] } },
  { name: '2 dropping NATs', rttMs: 4 * DELAY_MS, lateMs: 0, spec: { nats: [natted('a', '10.0.1', undefined, 'drop'), natted('b', '10.0.2', undefined, 'drop')], hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }] } },
  { name: '3 same NAT (LAN path)', rttMs: 0, lateMs: 0, spec: { nats: [natted('a', '10.0.1')], hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'a', address: '10.0.1.3' }] } },
  // A sits next to the server; B learns of the introduction one WAN delay later.
  { name: '4 A public, B behind NAT', rttMs: 2 * DELAY_MS, lateMs: DELAY_MS, spec: { nats: [natted('b', '10.0.2')], hosts: [{ name: 'host-a', nat: null }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }] } },
  { name: '5 B learns 300 ms late', rttMs: 4 * DELAY_MS, lateMs: LATE_MS, spec: { nats: [natted('a', '10.0.1'), natted('b', '10.0.2', LATE_MS)], hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }] } }
]

export interface LabProfileResult {
  profile: string
  trials: number
  connected: number
  rttMs: number
  /** The same round trip as measured (Lab.roundTripMs: the wires' delays plus their processing); null without WAN delay. */
  measuredRttMs: number | null
  /** Delivery skew + one round trip for the SYNs to cross + one for HELLO and PROOF both ways. */
  floorMs: number
  /** As users run it: TLS 1.3 on the connection. */
  medianMs: number
  p95Ms: number
  /** With --no-encrypt: the punch and its handshake alone. */
  plainMedianMs: number
  /** The punch against its floor: plainMedianMs - floorMs. */
  aboveFloorMs: number
  /** What TLS adds: medianMs - plainMedianMs (issue 12 allows one peer round trip: measuredRttMs). */
  tlsCostMs: number
  medianRoundTrips: number | null
  synsPerPunchMedian: number
  synsPerPunchMax: number
  via: Record<string, number>
  path: Record<string, number>
}

function tally (values: string[]): Record<string, number> {
  return values.reduce<Record<string, number>>((counts, value) => ({ ...counts, [value]: (counts[value] ?? 0) + 1 }), {})
}

const SYN_COUNTER = ['OUTPUT', '-p', 'tcp', '--syn', '!', '-d', SERVER_ADDRESS, '-j', 'ACCEPT']

function synCount (lab: Lab, host: string): number {
  const rule = lab.run(host, 'iptables', ['-L', 'OUTPUT', '-v', '-x', '-n']).split('\n').find((line) => line.includes('flags:0x17/0x02'))
  return Number(rule?.trim().split(/\s+/)[0] ?? NaN)
}

export async function measureLab (log: (line: string) => void): Promise<LabProfileResult[] | { skipped: string }> {
  const unavailable = labUnavailable()
  if (unavailable !== undefined) return { skipped: unavailable }
  const results: LabProfileResult[] = []
  for (const profile of PROFILES) {
    const lab = await Lab.create(profile.spec)
    try {
      const bNat = profile.spec.hosts.find((host) => host.name === 'host-b')!.nat
      const measuredRttMs = profile.rttMs > 0 && bNat !== null ? lab.roundTripMs('host-a', bNat) : null
      for (const host of ['host-a', 'host-b']) lab.run(host, 'iptables', ['-I', ...SYN_COUNTER])
      const times: number[] = []
      const plainTimes: number[] = []
      const syns: number[] = []
      const via: string[] = []
      const path: string[] = []
      for (let n = 1; n <= TRIALS; n++) {
        for (const encrypted of n % 2 === 0 ? [true, false] : [false, true]) {
          for (const host of ['host-a', 'host-b']) lab.run(host, 'iptables', ['-Z', 'OUTPUT'])
          const result = await trial(lab, 2 * n - (encrypted ? 1 : 0), { a: 'host-a', b: 'host-b', flags: encrypted ? [] : ['--no-encrypt'] })
          ;(encrypted ? times : plainTimes).push(result.elapsedMs)
          syns.push(synCount(lab, 'host-a') + synCount(lab, 'host-b'))
          via.push(result.via)
          path.push(result.path)
        }
      }
      times.sort((x, y) => x - y)
      plainTimes.sort((x, y) => x - y)
      syns.sort((x, y) => x - y)
      const floorMs = profile.lateMs + 2 * profile.rttMs
      const medianMs = quantile(times, 0.5)
      const plainMedianMs = quantile(plainTimes, 0.5)
      results.push({
        profile: profile.name,
        trials: TRIALS,
        connected: times.length,
        rttMs: profile.rttMs,
        measuredRttMs,
        floorMs,
        medianMs,
        p95Ms: quantile(times, 0.95),
        plainMedianMs,
        aboveFloorMs: plainMedianMs - floorMs,
        tlsCostMs: medianMs - plainMedianMs,
        medianRoundTrips: profile.rttMs > 0 ? medianMs / profile.rttMs : null,
        synsPerPunchMedian: quantile(syns, 0.5),
        synsPerPunchMax: syns.at(-1)!,
        via: tally(via),
        path: tally(path)
      })
      log(`lab ${profile.name}: median ${medianMs} ms with TLS, ${plainMedianMs} ms without (floor ${floorMs}, round trip ${measuredRttMs?.toFixed(1) ?? '-'} ms measured), SYNs ${quantile(syns, 0.5)}`)
    } finally {
      await lab.destroy()
    }
  }
  return results
}
