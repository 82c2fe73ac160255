// Where to punch: the other peer's public endpoint and its private ones, in
// the order worth trying. Pure functions, tested without a network.
import { isIP } from 'node:net'
import type { Endpoint, Introduction } from '@punchline/protocol'

export type Path = 'public' | 'private'

export interface Candidate {
  endpoint: Endpoint
  path: Path
  /** "public 198.51.100.7:40000": for traces and logs. */
  label: string
}

/** "198.51.100.7:40000" or "[2001:db8::7]:40000": for traces and logs. */
export function endpointLabel (endpoint: Endpoint): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`
}

function key (endpoint: Endpoint): string {
  return `${endpoint.address}|${endpoint.port}`
}

/**
 * The endpoints to dial for an introduction: the peer's public endpoint and
 * its private ones, of the address family we can dial from, without
 * duplicates and without our own endpoints. Peers behind the same NAT (same
 * public address) try their private endpoints first: most NATs do not
 * hairpin.
 */
export function candidatesFor (introduction: Pick<Introduction, 'self' | 'peer'>, family: 4 | 6 = 4): Candidate[] {
  const own = new Set([introduction.self.publicEndpoint, ...introduction.self.privateEndpoints].map(key))
  const publicOne = { endpoint: introduction.peer.publicEndpoint, path: 'public' as const }
  const privates = introduction.peer.privateEndpoints.map((endpoint) => ({ endpoint, path: 'private' as const }))
  const sameNat = introduction.peer.publicEndpoint.address === introduction.self.publicEndpoint.address
  const ordered = sameNat ? [...privates, publicOne] : [publicOne, ...privates]

  const seen = new Set<string>()
  const candidates: Candidate[] = []
  for (const { endpoint, path } of ordered) {
    const id = key(endpoint)
    if (isIP(endpoint.address) !== family || own.has(id) || seen.has(id)) continue
    seen.add(id)
    candidates.push({ endpoint, path, label: `${path} ${endpointLabel(endpoint)}` })
  }
  return candidates
}

/** Which path an accepted connection came over, judged by its source address. */
export function pathOf (remote: Endpoint, introduction: Pick<Introduction, 'peer'>): Path {
  if (introduction.peer.privateEndpoints.some((endpoint) => endpoint.address === remote.address) &&
    introduction.peer.publicEndpoint.address !== remote.address) return 'private'
  return 'public'
}
