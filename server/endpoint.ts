// Endpoints (IP literal + port): what counts as a usable address, and how the
// server turns the source of a TCP connection into a peer's public endpoint.
import { isIP } from 'node:net'
import type { Endpoint } from '@punchline/protocol'

const IPV4_MAPPED_PREFIX = '::ffff:'

/**
 * An address a peer can dial: an IPv4 or IPv6 literal, not unspecified,
 * not multicast/broadcast, and without an interface zone (fe80::1%eth0 means
 * nothing on another host).
 */
export function isDialableAddress (address: string): boolean {
  const family = isIP(address)
  if (family === 4) {
    const first = Number(address.split('.')[0])
    return address !== '0.0.0.0' && address !== '255.255.255.255' && !(first >= 224 && first <= 239)
  }
  if (family === 6) {
    if (address.includes('%')) return false
    const lower = address.toLowerCase()
    if (lower.startsWith(IPV4_MAPPED_PREFIX)) return isDialableAddress(lower.slice(IPV4_MAPPED_PREFIX.length))
    return lower !== '::' && !lower.startsWith('ff')
  }
  return false
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; peers dial a.b.c.d. */
export function normalizeAddress (address: string): string {
  const lower = address.toLowerCase()
  if (lower.startsWith(IPV4_MAPPED_PREFIX) && isIP(lower.slice(IPV4_MAPPED_PREFIX.length)) === 4) {
    return lower.slice(IPV4_MAPPED_PREFIX.length)
  }
  return lower
}

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
