// How a punch goes about an introduction: dial, spray, the relay, or some of
// them, and when. Decided from facts both peers share (the introduction's two
// mappings, as the server observed them, identical on both sides), so that
// both sides of an introduction do the same thing without talking. Pure: the
// tests check every pair.
//
//   strategyFor(introduction)   what the mappings allow:
//     race       both endpoint-independent, or not known: both dial every
//                candidate from the punch port while accepting (./punch.ts,
//                ./schedule.ts)
//     spray      exactly one side endpoint-dependent (and the other known to
//                be independent): the birthday strategy of ./spray.ts, its
//                measurements in ./spray-schedule.ts, beside the race
//     relay-now  both endpoint-dependent: no SYN of either side can reach the
//                other's mapping, so neither dials; both attach to the relay.
//                Unless both have an observed IPv6 endpoint: IPv6 has no NAT
//                to randomize, and its stateful firewalls are punched by the
//                race (which falls back to the relay after the head start)
//   planFor(introduction, relay)  the strategy under the caller's relay mode:
//     auto       race (or spray), and attach to the relay after
//                RELAY_HEAD_START_MS while the punch goes on (the first
//                connection to authenticate wins: a direct one that comes
//                first is kept, and once the relayed one wins the dialing
//                stops); relay-now at once
//     never      no relay: race whatever the mappings say, spraying where one
//                is dependent (upgrade attempts of tunnels punch this way: a
//                mapping the server judged dependent may have changed since)
//     only       no dials at all; the relay at once
import type { Introduction } from '@punchline/protocol'

export const RELAY_MODES = ['auto', 'never', 'only'] as const
/** Whether connect() falls back to the server's relay: `auto` (default), `never`, or `only` (no punching). */
export type RelayMode = typeof RELAY_MODES[number]

export type Strategy = 'race' | 'spray' | 'relay-now'

/** Why a punch attaches to the relay (the `relay-attaching` trace event). */
export type RelayReason = 'head-start' | 'mappings' | 'only'

/**
 * How long a punch races alone before it also attaches to the relay, in
 * `auto` mode: the same on both sides (each counts from its own start), so
 * that both attach, whatever their timeouts. Measured in the NAT laboratory
 * (README, "The NAT laboratory", relay head start; `test/lab/nat-lab.test.ts`
 * prints the slowest side of every punchable profile on each run):
 *   - quiet machine: every punchable profile (1-6, 0 and 20 ms per WAN link)
 *     authenticates its direct connection within 0.9 s (p95 of the slowest,
 *     profile 5 at 20 ms: B learns of the introduction 300 ms late behind
 *     reset NATs);
 *   - the same 2-core machine running two labs and a build at once (25
 *     trials per profile): medians 2-5x slower, and the slowest trial of all
 *     (profile 5 at 20 ms) authenticated after 1.88 s.
 * 3 s leaves that worst case 1.1 s, about the round trips a direct punch
 * over a real WAN adds; a relayed connection then takes about two round
 * trips to the server and three one-way trips between the peers after the
 * attach. A pair that cannot punch waits ~3 s more than the relay alone
 * would take (NATs that drop SYNs say nothing sooner: a failed punch is only
 * known by its silence); a pair whose mappings say it cannot punch waits
 * nothing (`relay-now`). A spray (at most SPRAY_BUDGET SYNs at
 * SPRAY_SYNS_PER_SECOND, each held SPRAY_HOLD_MS: about 2 s) ends within it too.
 */
export const RELAY_HEAD_START_MS = 3000

export interface Plan {
  strategy: Strategy
  /** Dial the candidates (and spray, for `spray`) and take accepted connections. */
  punch: boolean
  /** ms after the punch starts to attach to the relay, or undefined: never. */
  relayAfterMs: number | undefined
  relayReason: RelayReason | undefined
}

/**
 * What the two mappings allow (the same answer on both sides: `self` and
 * `peer` swap, the pair does not). `unknown` counts as independent: the plain
 * race, as before mappings were known.
 */
export function strategyFor ({ self, peer }: Pick<Introduction, 'self' | 'peer'>): Strategy {
  const dependent = [self.mapping, peer.mapping].filter((mapping) => mapping === 'dependent').length
  if (dependent === 2) return self.ipv6Endpoint !== undefined && peer.ipv6Endpoint !== undefined ? 'race' : 'relay-now'
  if (dependent === 1 && self.mapping !== 'unknown' && peer.mapping !== 'unknown') return 'spray'
  return 'race'
}

/**
 * This side's part of a spray: the randomizing (dependent) side opens many
 * sockets towards the other's observed public endpoint ('open'); the
 * consistent side sprays SYNs from its punch port at ports of the randomizing
 * side's observed public address ('spray').
 */
export function sprayRoleOf ({ self }: Pick<Introduction, 'self'>): 'open' | 'spray' {
  return self.mapping === 'dependent' ? 'open' : 'spray'
}

/**
 * The plan of one punch of `introduction` under `relay`. A punch timeout
 * shorter than the head start leaves the relay no time: such a punch fails
 * before it attaches.
 */
export function planFor (introduction: Pick<Introduction, 'self' | 'peer'>, relay: RelayMode, headStartMs = RELAY_HEAD_START_MS): Plan {
  const strategy = strategyFor(introduction)
  if (relay === 'never') return { strategy: strategy === 'relay-now' ? 'race' : strategy, punch: true, relayAfterMs: undefined, relayReason: undefined }
  if (relay === 'only') return { strategy, punch: false, relayAfterMs: 0, relayReason: 'only' }
  if (strategy === 'relay-now') return { strategy, punch: false, relayAfterMs: 0, relayReason: 'mappings' }
  return { strategy, punch: true, relayAfterMs: headStartMs, relayReason: 'head-start' }
}
