// What an address is, for the rules both sides apply to endpoints: a peer may
// report only private addresses (RFC 1918, IPv6 unique-local) as its private
// endpoints, and nobody dials loopback, link-local, unspecified, multicast or
// reserved addresses on a peer's word. Pure functions on IP literals.
import { BlockList, SocketAddress, isIP } from 'node:net'

export type AddressScope =
  | 'unspecified' // 0.0.0.0/8, ::
  | 'loopback' // 127.0.0.0/8, ::1
  | 'link-local' // 169.254.0.0/16 (cloud metadata lives here), fe80::/10
  | 'multicast' // 224.0.0.0/4, ff00::/8
  | 'reserved' // 240.0.0.0/4, broadcast included
  | 'private' // 10/8, 172.16/12, 192.168/16, fc00::/7 (unique-local)
  | 'shared' // 100.64.0.0/10: carrier-grade NAT space (RFC 6598)
  | 'public'

const IPV4_MAPPED_PREFIX = '::ffff:'

const SCOPES: Array<[Exclude<AddressScope, 'public'>, 'ipv4' | 'ipv6', string, number]> = [
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['shared', 'ipv4', '100.64.0.0', 10],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private', 'ipv6', 'fc00::', 7],
  ['multicast', 'ipv6', 'ff00::', 8]
]

const LISTS = SCOPES.map(([scope, family, network, prefix]) => {
  const list = new BlockList()
  list.addSubnet(network, prefix, family)
  return { scope, family, list }
})

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; peers dial a.b.c.d. Lower-case otherwise. */
export function normalizeAddress (address: string): string {
  const lower = address.toLowerCase()
  if (lower.startsWith(IPV4_MAPPED_PREFIX) && isIP(lower.slice(IPV4_MAPPED_PREFIX.length)) === 4) {
    return lower.slice(IPV4_MAPPED_PREFIX.length)
  }
  return lower
}

/** The scope of an IP literal (a zone id counts as its address: fe80::1%eth0 is link-local); undefined for anything else (a name). */
export function scopeOf (address: string): AddressScope | undefined {
  const normalized = normalizeAddress(address)
  const family = isIP(normalized)
  if (family === 0) return undefined
  const type = family === 4 ? 'ipv4' : 'ipv6'
  // Parsed once: BlockList.check parses a string again for every list.
  const parsed = new SocketAddress({ address: normalized, family: type })
  for (const { scope, family: listFamily, list } of LISTS) {
    if (listFamily === type && list.check(parsed)) return scope
  }
  return 'public'
}

/** What a peer may report as a private endpoint: an address of a private network, which only peers on it can reach. */
export function isReportableAddress (address: string): boolean {
  return scopeOf(address) === 'private'
}

/** Whether `address` lies in `network`/`prefix` (e.g. an interface's subnet). */
export function inSubnet (address: string, network: string, prefix: number): boolean {
  const a = normalizeAddress(address)
  const n = normalizeAddress(network)
  const family = isIP(a)
  if (family === 0 || family !== isIP(n)) return false
  const list = new BlockList()
  list.addSubnet(n, prefix, family === 4 ? 'ipv4' : 'ipv6')
  return list.check(a, family === 4 ? 'ipv4' : 'ipv6')
}
