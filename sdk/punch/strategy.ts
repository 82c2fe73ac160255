// How a punch goes about an introduction: dial, the relay, or both, and when.
// Decided from facts both peers share — the introduction's two mappings,
// identical on both sides — so that both sides of an introduction do the
// same thing without talking: both punch, and both fall back to the same
// introduction's relay. Pure: the tests check every pair.
//
//   strategyFor(self, peer)   what the mappings allow:
//     race       both dial every candidate while accepting (./punch.ts): the
//                plain punch. Also the strategy while a mapping is unknown,
//                and for exactly one dependent side (a randomizing NAT's
//                mapping cannot be guessed by a plain punch, but the other
//                side's can be reached by it: issue 14 puts a `spray`
//                strategy here; until then it races, then falls back).
//     relay-now  both mappings are dependent: no SYN of either side can
//                reach the other's mapping, so neither dials; both attach to
//                the relay at once.
//   planFor(...)              the strategy under the caller's relay mode:
//     auto       race, and attach to the relay after RELAY_HEAD_START_MS while
//                the race goes on (the first connection to authenticate
//                wins: a direct one that comes first is kept, and once the
//                relayed one wins the dialing stops); relay-now at once
//     never      race whatever the mappings say (the behaviour before the
//                relay): upgrade attempts of tunnels punch this way
//     only       no dials at all; the relay at once
import type { Introduction, Mapping } from '@punchline/protocol'

export const RELAY_MODES = ['auto', 'never', 'only'] as const
/** Whether connect() falls back to the server's relay: `auto` (default), `never`, or `only` (no punching). */
export type RelayMode = typeof RELAY_MODES[number]

export type Strategy = 'race' | 'relay-now'

/** Why a punch attaches to the relay (the `relay-attaching` trace event). */
export type RelayReason = 'head-start' | 'mappings' | 'only'

/**
 * How long a punch races alone before it also attaches to the relay, in
 * `auto` mode. Measured in the NAT laboratory (README, "The NAT laboratory",
 * relay head start): every punchable profile (1–6, 0 and 20 ms per WAN link,
 * 25 trials each) authenticated its direct connection within 1.2 s of the
 * introduction on either side (the slowest: profile 5, B 300 ms late behind
 * reset NATs at 20 ms), and a relayed connection takes another ~2 round
 * trips to the server and 3 one-way trips between the peers after the
 * attach. 2.5 s is twice that tail: room for round trips of ~150 ms that the
 * lab does not have, and on a pair that cannot punch a user waits about
 * 2.5 s more than the fastest relayed connection could take.
 */
export const RELAY_HEAD_START_MS = 2500

export interface Plan {
  strategy: Strategy
  /** Dial the candidates and take accepted connections. */
  punch: boolean
  /** ms after the punch starts to attach to the relay, or undefined: never. */
  relayAfterMs: number | undefined
  relayReason: RelayReason | undefined
}

/** What the two mappings allow (the same answer on both sides: `self` and `peer` swap, the pair does not). */
export function strategyFor (self: Mapping, peer: Mapping): Strategy {
  if (self === 'dependent' && peer === 'dependent') return 'relay-now'
  return 'race'
}

/**
 * The plan of one punch of `introduction` under `relay`. The head start is
 * at most half the punch's timeout, so that a short timeout still leaves the
 * relay time to connect.
 */
export function planFor (introduction: Pick<Introduction, 'self' | 'peer'>, relay: RelayMode, timeoutMs: number, headStartMs = RELAY_HEAD_START_MS): Plan {
  const strategy = strategyFor(introduction.self.mapping, introduction.peer.mapping)
  if (relay === 'never') return { strategy, punch: true, relayAfterMs: undefined, relayReason: undefined }
  if (relay === 'only') return { strategy, punch: false, relayAfterMs: 0, relayReason: 'only' }
  if (strategy === 'relay-now') return { strategy, punch: false, relayAfterMs: 0, relayReason: 'mappings' }
  return { strategy, punch: true, relayAfterMs: Math.min(headStartMs, Math.floor(timeoutMs / 2)), relayReason: 'head-start' }
}
