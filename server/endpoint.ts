// Endpoints (IP literal + port): how the server turns the source of a TCP
// connection into a peer's public endpoint, and which endpoints a peer may
// report as private (the protocol's address rules).
import { isReportableAddress, normalizeAddress } from '@punchline/protocol/addresses'
import type { Endpoint } from '@punchline/protocol'
import ipaddr from 'ipaddr.js'
import { atField, errors } from './errors.js'

export { normalizeAddress }

/** The public endpoint of a peer: the source of the TCP connection carrying its request. */
export function observedEndpoint (socket: { remoteAddress?: string | undefined, remotePort?: number | undefined }): Endpoint {
  if (socket.remoteAddress === undefined || socket.remotePort === undefined) {
    // Only a destroyed socket has no remote address; the request is being torn down anyway.
    throw new Error('connection has no remote address')
  }
  return { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort }
}

export function sameEndpoint (a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalizeAddress(a.address) === normalizeAddress(b.address)
}

/**
 * Refuses reported private endpoints that are not private addresses: the
 * peers of an introduction would dial them (loopback, link-local, public
 * addresses of third parties), and nobody outside a shared network could.
 */
export function checkPrivateEndpoints (endpoints: Endpoint[] | undefined, field = 'body/privateEndpoints'): void {
  endpoints?.forEach((endpoint, index) => {
    if (isReportableAddress(endpoint.address)) return
    const at = `${field}/${index}/address`
    throw atField(new errors.VALIDATION(`${at} must be a private address (10/8, 172.16/12, 192.168/16 or IPv6 unique-local fc00::/7): private endpoints are dialed only by peers on the same network`), at)
  })
}

/**
 * What every per-address limit counts by: an IPv4 address, or the IPv6
 * prefix of `ipv6PrefixLength` bits it lies in (one host usually holds a
 * whole /64, so counting /128s would let it multiply its share).
 */
export function addressKey (address: string, ipv6PrefixLength: number): string {
  const normalized = normalizeAddress(address)
  if (!ipaddr.IPv6.isValid(normalized) || ipaddr.IPv4.isValid(normalized)) return normalized
  const bytes = ipaddr.IPv6.parse(normalized).toByteArray()
  for (let bit = ipv6PrefixLength; bit < 128; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7))
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixLength}`
}
