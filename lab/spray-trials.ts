// Trials of the birthday strategy (one randomizing NAT), shared by the lab
// test (test/lab/spray-lab.test.ts) and its benchmark (bench/spray.ts): each
// trial is lab/trial.ts's, plus the SYNs each host sent towards the other's
// NAT (iptables counters, retransmissions included), and a failed trial is an
// outcome to count, not an exception.
import { Lab, type LabSpec } from './lab.js'
import { quantile } from './statistics.js'
import { trial, type PeerRun } from './trial.js'

/** NAT a's and NAT b's WAN addresses (lab/lab.ts). */
export const NAT_A = '100.64.1.2'
export const NAT_B = '100.64.2.2'

export interface SprayOutcome {
  connected: boolean
  /** From A receiving the introduction to A's confirmed connection, ms. */
  elapsedMs: number
  /** Dials of A (the randomizing side: sockets opened, race dials) and of B (spray dials, race dials). */
  aDials: number
  bDials: number
  /** SYNs each host sent towards the other's NAT, retransmissions included. */
  aSyns: number
  bSyns: number
  /** Each side's spray-ended event. */
  aSpray?: Record<string, any> | undefined
  bSpray?: Record<string, any> | undefined
  strategy?: string | undefined
  why?: string
}

/** Counts every SYN a host sends to `address` from now on (an ACCEPT rule's counters in its OUTPUT chain). */
export function countSyns (lab: Lab, host: string, address: string): () => number {
  lab.run(host, 'iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--syn', '-d', address, '-j', 'ACCEPT'])
  lab.run(host, 'iptables', ['-Z', 'OUTPUT'])
  return () => Number(lab.run(host, 'iptables', ['-L', 'OUTPUT', '-v', '-x', '-n']).split('\n').find((line) => line.includes(address))!.trim().split(/\s+/)[0])
}

function sprayEnded (run: PeerRun): Record<string, any> | undefined {
  return run.events.find((event) => event.event === 'spray-ended')
}

/** `trials` trials of host-a (behind NAT a) connecting to host-b on one lab. */
export async function sprayTrials (spec: LabSpec, trials: number, log: (line: string) => void = () => {}): Promise<SprayOutcome[]> {
  const lab = await Lab.create(spec)
  try {
    const outcomes: SprayOutcome[] = []
    for (let n = 1; n <= trials; n++) {
      const aSyns = countSyns(lab, 'host-a', NAT_B)
      const bSyns = countSyns(lab, 'host-b', NAT_A)
      try {
        const result = await trial(lab, n, { a: 'host-a', b: 'host-b', awaitMapping: true })
        const outcome = {
          connected: result.path === 'public',
          elapsedMs: result.elapsedMs,
          aDials: result.dials,
          bDials: result.peerDials,
          aSyns: aSyns(),
          bSyns: bSyns(),
          aSpray: sprayEnded(result.a),
          bSpray: sprayEnded(result.b),
          strategy: result.a.events.find((event) => event.event === 'introduced')?.strategy
        }
        outcomes.push(outcome)
        log(`trial ${n}: ${outcome.elapsedMs} ms, A ${outcome.aDials} dials / ${outcome.aSyns} SYNs, B ${outcome.bDials} / ${outcome.bSyns}; A ${JSON.stringify(outcome.aSpray)}; B ${JSON.stringify(outcome.bSpray)}`)
      } catch (error) {
        const outcome = { connected: false, elapsedMs: 0, aDials: 0, bDials: 0, aSyns: aSyns(), bSyns: bSyns(), why: (error as Error).message.slice(0, 2000) }
        outcomes.push(outcome)
        log(`trial ${n}: FAILED, A ${outcome.aSyns} SYNs, B ${outcome.bSyns}: ${outcome.why}`)
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

export const SPRAY_TABLE_HEADER = [
  '| profile | connected | median ms | p95 ms | max ms | median dials A | median dials B | median SYNs A | median SYNs B | most SYNs (A + B) of a trial |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
]

/** One row of the summary table: connected trials' time and cost, the worst trial's SYNs (failed ones included). */
export function sprayRow (profile: string, outcomes: SprayOutcome[]): string {
  const connected = outcomes.filter((outcome) => outcome.connected)
  const at = (values: number[], q: number | 'max'): string => {
    if (values.length === 0) return '-'
    const sorted = [...values].sort((x, y) => x - y)
    return String(q === 'max' ? sorted.at(-1) : quantile(sorted, q))
  }
  return `| ${profile} | ${connected.length}/${outcomes.length} | ${at(connected.map((o) => o.elapsedMs), 0.5)} | ${at(connected.map((o) => o.elapsedMs), 0.95)} | ${at(connected.map((o) => o.elapsedMs), 'max')} | ` +
    `${at(connected.map((o) => o.aDials), 0.5)} | ${at(connected.map((o) => o.bDials), 0.5)} | ${at(connected.map((o) => o.aSyns), 0.5)} | ${at(connected.map((o) => o.bSyns), 0.5)} | ${at(outcomes.map((o) => o.aSyns + o.bSyns), 'max')} |`
}
