// A peer's IPv6 endpoint as the server observes it: the source of a request
// the peer sends from its IPv6 punch port, over a connection of its own,
// besides its registration's connection (which goes over IPv4 when it can, so
// that its public endpoint is its NAT's mapping). Like the public endpoint it
// is observed, never reported: a peer cannot have others dial an address it
// merely names. It holds while the registration's public address is the one
// it had when observed: a peer that moved to another network has it observed
// again there, or has none.
import { isIP } from 'node:net'
import type { Endpoint } from '@punchline/protocol'
import { normalizeAddress } from '../endpoint.js'

/** What a registration keeps of its last IPv6 observation. */
export interface Ipv6Record {
  ipv6Address: string | null
  ipv6Port: number | null
  /** The registration's public address when it was observed. */
  ipv6Anchor: string | null
}

export const NO_IPV6: Ipv6Record = { ipv6Address: null, ipv6Port: null, ipv6Anchor: null }

/** Whether a connection's source (already normalized: IPv4-mapped sources are IPv4) is an IPv6 endpoint. */
export function isIpv6Source (source: Endpoint): boolean {
  return isIP(source.address) === 6
}

/** The record of an observation from `source` by a registration whose public address is `publicAddress`. */
export function ipv6RecordOf (source: Endpoint, publicAddress: string): Ipv6Record {
  return { ipv6Address: normalizeAddress(source.address), ipv6Port: source.port, ipv6Anchor: normalizeAddress(publicAddress) }
}

/** The IPv6 endpoint a registration shows: its last observation while its public address is the one it was made at. */
export function ipv6EndpointOf (row: Ipv6Record & { publicAddress: string }): Endpoint | undefined {
  if (row.ipv6Address === null || row.ipv6Port === null || row.ipv6Anchor === null) return undefined
  if (normalizeAddress(row.ipv6Anchor) !== normalizeAddress(row.publicAddress)) return undefined
  return { address: row.ipv6Address, port: row.ipv6Port }
}

export function sameIpv6Record (a: Ipv6Record, b: Ipv6Record): boolean {
  return a.ipv6Address === b.ipv6Address && a.ipv6Port === b.ipv6Port && a.ipv6Anchor === b.ipv6Anchor
}
