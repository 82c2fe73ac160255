// Groundwork for the randomizing strategy (issue 14, part 2), measured in the
// NAT laboratory: how Linux MASQUERADE --random-fully allocates ports for many
// sockets of one host towards one destination; whether a SYN from the other
// side reaches one of those sockets, and from where it must come; and how fast
// one reuse-port punch port can spray SYNs. Prints its figures as JSON and a
// summary; bench/randomizing-nat.md keeps the last run and the method.
// Run as root: npx tsx --conditions=@punchline/source bench/randomizing-nat.ts
// (after npm run build: the agents run the built SDK inside the namespaces).
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { Lab, SERVER_ADDRESS, labUnavailable, twoNats, type LabSpec, type NatSpec } from '../lab/lab.js'

const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'randomizing-nat', 'agent.mjs')
const OBSERVER_PORT = 9000
const PUNCH_PORT = 40000
/** NAT a's and NAT b's WAN addresses (lab/lab.ts). */
const NAT_A = '100.64.1.2'
const NAT_B = '100.64.2.2'
/** The ports --random-fully picks from when the source port is 1024 or above (nf_nat_l4proto_unique_tuple). */
const RANGE = { min: 1024, max: 65535 }
const RANGE_SIZE = RANGE.max - RANGE.min + 1

/**
 * NAT a (host-a's) maps every connection to a random port (--random-fully), NAT b (host-b's)
 * keeps ports (plain MASQUERADE); what each does with unsolicited SYNs is chosen apart.
 */
function randomizingAndConsistent (a: NatSpec['unsolicited'], b: NatSpec['unsolicited']): LabSpec {
  const spec = twoNats(a, 0, { mappingOfA: 'random' })
  spec.nats[1]!.unsolicited = b
  return spec
}

/** An agent process in a namespace, spoken to in JSON lines. */
class Agent {
  readonly #child: ChildProcess
  readonly #lines: AsyncIterator<string>

  private constructor (child: ChildProcess) {
    this.#child = child
    this.#lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  }

  static async start (lab: Lab, namespace: string, args: Array<string | number>): Promise<{ agent: Agent, first: any }> {
    const agent = new Agent(lab.spawn(namespace, process.execPath, [AGENT, ...args.map(String)]))
    agent.#child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${namespace}] ${chunk.toString()}`))
    return { agent, first: await agent.next() }
  }

  async next (): Promise<any> {
    const { value, done } = await this.#lines.next()
    if (done === true) throw new Error('agent ended without an answer')
    return JSON.parse(value)
  }

  async ask (command: unknown): Promise<any> {
    this.#child.stdin!.write(JSON.stringify(command) + '\n')
    return await this.next()
  }
}

/** The reply-direction destination ports of NAT `router`'s connections to `dst:dport`: the public ports it mapped them to. */
function mappedPorts (lab: Lab, router: string, dst: string, dport: number): number[] {
  return conntrackLines(lab, router, `dst=${dst} .* dport=${dport} `).map((line) => {
    const reply = line.slice(line.indexOf(`src=${dst}`))
    return Number(/dport=(\d+)/.exec(reply)![1])
  })
}

/** NAT `router`'s connection-tracking entries that match `pattern` (grep, in its namespace: the table can be megabytes). */
function conntrackLines (lab: Lab, router: string, pattern: string): string[] {
  return lab.run(router, 'sh', ['-c', `grep -E '${pattern}' /proc/net/nf_conntrack || true`]).split('\n').filter((line) => line.trim() !== '')
}

function conntrackCount (lab: Lab, router: string): number {
  return Number(lab.run(router, 'sh', ['-c', 'wc -l < /proc/net/nf_conntrack']).trim())
}

/** Randomness of a sample of ports from RANGE: spread, repeats against the birthday expectation, uniformity, serial correlation. */
export function portStatistics (ports: number[]): Record<string, number> {
  const n = ports.length
  const distinct = new Set(ports).size
  const expectedDistinct = RANGE_SIZE * (1 - (1 - 1 / RANGE_SIZE) ** n)
  const BINS = 64
  const counts = new Array<number>(BINS).fill(0)
  for (const port of ports) counts[Math.min(BINS - 1, Math.floor((port - RANGE.min) / (RANGE_SIZE / BINS)))]!++
  const expected = n / BINS
  const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0)
  const mean = ports.reduce((sum, port) => sum + port, 0) / n
  let numerator = 0
  let denominator = 0
  for (let index = 0; index < n; index++) {
    denominator += (ports[index]! - mean) ** 2
    if (index > 0) numerator += (ports[index]! - mean) * (ports[index - 1]! - mean)
  }
  return {
    samples: n,
    min: Math.min(...ports),
    max: Math.max(...ports),
    distinct,
    repeats: n - distinct,
    expectedRepeatsIfUniform: Math.round((n - expectedDistinct) * 10) / 10,
    /** 63 degrees of freedom: 95% of uniform samples stay below 82.5. */
    chiSquare64Bins: Math.round(chiSquare * 10) / 10,
    lag1Correlation: Math.round((numerator / denominator) * 1000) / 1000,
    belowEphemeralRange: ports.filter((port) => port < 32768).length / n,
    /** A 16-bit random number modulo the 64,512 ports picks the first 1,024 twice as often (2/65536 against 1/65536). */
    share1024To2047: Math.round((ports.filter((port) => port < 2048).length / n) * 10_000) / 10_000,
    share1024To2047IfUniform: Math.round((1024 / RANGE_SIZE) * 10_000) / 10_000,
    share1024To2047IfModuloBiased: Math.round((2048 / 65536) * 10_000) / 10_000
  }
}

/** E1: the ports MASQUERADE --random-fully gives one host's connections to one destination, against plain MASQUERADE. */
async function allocation (log: (line: string) => void): Promise<Record<string, unknown>> {
  const lab = await Lab.create(twoNats('reset', 0, { mappingOfA: 'random' }))
  try {
    const { agent: observer } = await Agent.start(lab, 'srv', ['observer', '0.0.0.0', OBSERVER_PORT])
    const run = async (host: string, count: number, concurrent: number): Promise<{ local: number[], seen: number[] }> => {
      const { first } = await Agent.start(lab, host, ['open', SERVER_ADDRESS, OBSERVER_PORT, count, concurrent])
      await new Promise((resolve) => setTimeout(resolve, 200))
      const { ports } = await observer.ask({})
      return { local: first.local, seen: ports }
    }
    const held = await run('host-a', 256, 256)
    const sequential = await run('host-a', 4096, 8)
    const plain = await run('host-b', 256, 256)
    const preserved = plain.seen.filter((port) => plain.local.includes(port)).length
    const result = {
      randomFully256AtOnce: portStatistics(held.seen),
      randomFully4096OneAfterAnother: portStatistics(sequential.seen),
      randomFullyKeepsSourcePort: held.seen.filter((port) => held.local.includes(port)).length,
      plainMasquerade256AtOnce: { ...portStatistics(plain.seen), sourcePortKept: preserved / plain.seen.length }
    }
    log(`allocation: ${JSON.stringify(result)}`)
    return result
  } finally {
    await lab.destroy()
  }
}

/**
 * E2: A (behind --random-fully) holds sockets towards B's public endpoint;
 * B dials A's NAT at the mapped ports: from its punch port (whose mapping is
 * the endpoint A's sockets target), from another port, at an unmapped port,
 * and at a port A mapped towards another endpoint of B's NAT.
 */
async function hits (randomizing: NatSpec['unsolicited'], consistent: NatSpec['unsolicited'], log: (line: string) => void): Promise<Record<string, unknown>> {
  const lab = await Lab.create(randomizingAndConsistent(randomizing, consistent))
  try {
    const { agent: observer } = await Agent.start(lab, 'srv', ['observer', '0.0.0.0', OBSERVER_PORT])
    const { agent: b } = await Agent.start(lab, 'host-b', ['punch-port', '0.0.0.0', PUNCH_PORT])
    await b.ask({ dials: [{ address: SERVER_ADDRESS, port: OBSERVER_PORT }], timeoutMs: 2000 })
    const [publicPort] = (await observer.ask({})).ports as number[]
    // A's sockets towards B's public endpoint, and a few towards another port of B's NAT.
    const { agent: a, first: aReady } = await Agent.start(lab, 'host-a', ['hold', NAT_B, publicPort!, 16])
    const { agent: elsewhere } = await Agent.start(lab, 'host-a', ['hold', NAT_B, publicPort! + 1, 4])
    const towardsB = mappedPorts(lab, 'nat-a', NAT_B, publicPort!)
    const towardsElsewhere = mappedPorts(lab, 'nat-a', NAT_B, publicPort! + 1)
    const unmapped = 1024 + (((towardsB[0] ?? 0) + 20_000) % RANGE_SIZE)
    const natATable = conntrackLines(lab, 'nat-a', ` dport=${publicPort!} `).map((line) => line.split(/\s+/)[5]!)
    const { ends } = await b.ask({
      timeoutMs: 3000,
      dials: [
        { case: 'punch port -> a mapped port', address: NAT_A, port: towardsB[0] },
        { case: 'punch port -> another mapped port', address: NAT_A, port: towardsB[1] },
        { case: 'another local port -> a mapped port', address: NAT_A, port: towardsB[2], fromPort: PUNCH_PORT + 1 },
        { case: 'punch port -> an unmapped port', address: NAT_A, port: unmapped },
        { case: 'punch port -> a port mapped towards another endpoint', address: NAT_A, port: towardsElsewhere[0] }
      ]
    })
    const cases = ['punch port -> a mapped port', 'punch port -> another mapped port', 'another local port -> a mapped port', 'punch port -> an unmapped port', 'punch port -> a port mapped towards another endpoint']
    const aEnds = (await a.ask({})).ends as string[]
    await elsewhere.ask({})
    const result = {
      unsolicitedSyns: { randomizingNat: randomizing, consistentNat: consistent },
      bPublicEndpoint: `${NAT_B}:${publicPort!}`,
      aSockets: aReady.local.length,
      aMappedPortsTowardsB: towardsB.length,
      natAStatesTowardsB: tally(natATable),
      dials: Object.fromEntries(cases.map((name, index) => [name, ends[index]])),
      aSocketsConnected: aEnds.filter((end) => end === 'connected').length,
      aSocketsRefused: aEnds.filter((end) => end === 'ECONNREFUSED').length
    }
    log(`hits (${randomizing}/${consistent}): ${JSON.stringify(result)}`)
    return result
  } finally {
    await lab.destroy()
  }
}

/**
 * E2b: the other order. B sprays first (SYNs from its punch port to many
 * ports of A's NAT), then A opens sockets towards B's public endpoint: a
 * socket whose random port B sprayed meets B's mapping in B's NAT.
 */
async function sprayFirst (randomizing: NatSpec['unsolicited'], consistent: NatSpec['unsolicited'], log: (line: string) => void): Promise<Record<string, unknown>> {
  const lab = await Lab.create(randomizingAndConsistent(randomizing, consistent))
  const SPRAYED = 4096
  const OPENED = 256
  try {
    const { agent: observer } = await Agent.start(lab, 'srv', ['observer', '0.0.0.0', OBSERVER_PORT])
    const { agent: b } = await Agent.start(lab, 'host-b', ['punch-port', '0.0.0.0', PUNCH_PORT])
    await b.ask({ dials: [{ address: SERVER_ADDRESS, port: OBSERVER_PORT }], timeoutMs: 2000 })
    const [publicPort] = (await observer.ask({})).ports as number[]
    const sprayed = Array.from({ length: SPRAYED }, (_, n) => RANGE.min + Math.floor(((n + 0.5) * RANGE_SIZE) / SPRAYED))
    const spraying = b.ask({ timeoutMs: 4000, dials: sprayed.map((port) => ({ address: NAT_A, port })) })
    await new Promise((resolve) => setTimeout(resolve, 500)) // the spray has left
    const { agent: a } = await Agent.start(lab, 'host-a', ['hold', NAT_B, publicPort!, OPENED])
    const mapped = mappedPorts(lab, 'nat-a', NAT_B, publicPort!)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const aEnds = (await a.ask({})).ends as string[]
    const { ends, accepted } = await spraying
    const sprayedSet = new Set(sprayed)
    const result = {
      unsolicitedSyns: { randomizingNat: randomizing, consistentNat: consistent },
      sprayed: SPRAYED,
      opened: OPENED,
      aPortsInSprayedSet: mapped.filter((port) => sprayedSet.has(port)).length,
      expectedInSprayedSet: Math.round((OPENED * SPRAYED / RANGE_SIZE) * 10) / 10,
      aSocketsConnected: aEnds.filter((end) => end === 'connected').length,
      bDialsConnected: (ends as Array<{ end: string }>).filter(({ end }) => end === 'connected').length,
      bAccepted: accepted,
      bDialEnds: tally((ends as Array<{ end: string }>).map(({ end }) => end))
    }
    log(`spray first (${randomizing}/${consistent}): ${JSON.stringify(result)}`)
    return result
  } finally {
    await lab.destroy()
  }
}

function tally (values: string[]): Record<string, number> {
  return values.reduce<Record<string, number>>((counts, value) => ({ ...counts, [value]: (counts[value] ?? 0) + 1 }), {})
}

/** E3: how fast one reuse-port punch port sprays SYNs at distinct ports of one address, and what each costs. */
async function sprayRate (log: (line: string) => void): Promise<Record<string, unknown>> {
  const runs: Array<Record<string, unknown>> = []
  for (const unsolicited of ['drop', 'reset'] as const) {
    const lab = await Lab.create(randomizingAndConsistent(unsolicited, 'drop'))
    try {
      // SYNs that leave host-b for NAT a, retransmissions included.
      lab.run('host-b', 'iptables', ['-I', 'OUTPUT', '-p', 'tcp', '--syn', '-d', NAT_A, '-j', 'ACCEPT'])
      for (const [index, [count, perSecond, holdMs]] of ([[4000, 0, 900], [4000, 2000, 900], [1000, 0, 3500]] as const).entries()) {
        lab.run('host-b', 'iptables', ['-Z', 'OUTPUT'])
        const before = conntrackCount(lab, 'nat-b')
        // Each run from a port of its own: its four-tuples are new to NAT b's table.
        const { first } = await Agent.start(lab, 'host-b', ['spray', '0.0.0.0', PUNCH_PORT + 1 + index, NAT_A, count, perSecond, holdMs])
        const syns = Number(lab.run('host-b', 'iptables', ['-L', 'OUTPUT', '-v', '-x', '-n']).split('\n').find((line) => line.includes(NAT_A))!.trim().split(/\s+/)[0])
        const entries = conntrackCount(lab, 'nat-b') - before
        const run = { natAUnsolicited: unsolicited, paced: perSecond === 0 ? 'unpaced' : `${perSecond}/s`, holdMs, ...first, synsOnTheWire: syns, conntrackEntriesLeftAtNatB: entries }
        runs.push(run)
        log(`spray: ${JSON.stringify(run)}`)
      }
      // The same remote endpoint twice from one port: one four-tuple, one connection.
      const { agent: b } = await Agent.start(lab, 'host-b', ['punch-port', '0.0.0.0', PUNCH_PORT + 7])
      const twice = await b.ask({ timeoutMs: 1500, dials: [{ address: NAT_A, port: 5555 }, { address: NAT_A, port: 5555 }] })
      // And a socket without SO_REUSEPORT on the punch port (what a plain connect({ localPort }) makes).
      const plain = await b.ask({ timeoutMs: 1500, dials: [{ address: NAT_A, port: 5556, plain: true }] })
      runs.push({ natAUnsolicited: unsolicited, sameRemoteTwice: twice.ends.map(({ end }: { end: string }) => end), withoutReusePort: plain.ends[0].end })
    } finally {
      await lab.destroy()
    }
  }
  return { runs }
}

/** Every combination of what the two NATs do with unsolicited SYNs. */
async function eachPair<T> (run: (randomizing: NatSpec['unsolicited'], consistent: NatSpec['unsolicited']) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  for (const randomizing of ['drop', 'reset'] as const) for (const consistent of ['drop', 'reset'] as const) results.push(await run(randomizing, consistent))
  return results
}

const unavailable = labUnavailable()
if (unavailable !== undefined) {
  console.error(`randomizing-NAT measurements skipped: ${unavailable}`)
  process.exit(1)
}
const log = (line: string): void => { console.error(line) }
/** `bench/randomizing-nat.ts hits spray`: only those experiments. */
const only = process.argv.slice(2)
const wanted = (name: string): boolean => only.length === 0 || only.includes(name)
const results = {
  date: new Date().toISOString(),
  kernel: (await import('node:os')).release(),
  ...(wanted('allocation') ? { allocation: await allocation(log) } : {}),
  ...(wanted('hits') ? { hits: await eachPair(async (a, b) => await hits(a, b, log)) } : {}),
  ...(wanted('spray-first') ? { sprayFirst: await eachPair(async (a, b) => await sprayFirst(a, b, log)) } : {}),
  ...(wanted('spray') ? { spray: await sprayRate(log) } : {})
}
console.log(JSON.stringify(results, null, 2))
