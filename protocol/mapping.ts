// How a peer's NAT maps its punch port, in RFC 4787's terms, as the
// rendezvous server observes it from two of its ports: the same public port
// towards both (endpoint-independent: the port the server saw is the port
// every other peer sees), a different one (endpoint-dependent: a new public
// port per destination), or not known. A punch's strategy depends on the
// pair, so pairs have one label each: the two values in the order below.

export const MAPPINGS = ['independent', 'dependent', 'unknown'] as const
export type Mapping = typeof MAPPINGS[number]

/** Every label of a pair of mappings, whichever side is which: statistics are broken down by these and nothing else. */
export const MAPPING_PAIRS = [
  'independent+independent', 'independent+dependent', 'independent+unknown',
  'dependent+dependent', 'dependent+unknown',
  'unknown+unknown'
] as const
export type MappingPair = typeof MAPPING_PAIRS[number]

/** The label of the pair: the two mappings in the order of MAPPINGS, e.g. "independent+dependent". */
export function mappingPairOf (a: Mapping, b: Mapping): MappingPair {
  return (MAPPINGS.indexOf(a) <= MAPPINGS.indexOf(b) ? `${a}+${b}` : `${b}+${a}`) as MappingPair
}
