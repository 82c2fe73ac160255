// How to punch a pair, from the two NATs' mappings as the server observed them
// (the introduction carries both, the same on both sides, so both peers pick
// the same strategy without talking):
//   race      - both endpoint-independent, or not known: dial every candidate
//               from the punch port at once (./punch.ts, ./schedule.ts)
//   spray     - exactly one side endpoint-dependent: the birthday strategy of
//               ./spray.ts (its measurements in ./spray-schedule.ts)
//   relay-now - both endpoint-dependent: no direct path can be guessed
import type { Introduction } from '@punchline/protocol'

export type Strategy = 'race' | 'spray' | 'relay-now'

/** The strategy for a pair of mappings. `unknown` is treated as independent: the plain race, as before mappings were known. */
export function strategyFor ({ self, peer }: Pick<Introduction, 'self' | 'peer'>): Strategy {
  const dependent = [self.mapping, peer.mapping].filter((mapping) => mapping === 'dependent').length
  if (dependent === 2) return 'relay-now'
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
