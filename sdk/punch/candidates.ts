// Where to punch, and where never to: the other peer's endpoints in the order
// worth trying, after the address-safety policy (README, "Security model").
//   - The public endpoint and the IPv6 endpoint are what the server observed:
//     dialed, unless loopback (only when the server itself is on loopback),
//     link-local, unspecified, multicast or reserved. Both families race:
//     where IPv4 is behind a NAT that cannot be punched, a stateful IPv6
//     firewall usually can be.
//   - Private endpoints are only the peer's word: dialed only when they are
//     private addresses (RFC 1918, IPv6 unique-local fc00::/7) and the pair
//     shares a network (the same public address, or the endpoint is on one
//     of our own subnets); one of our own addresses only behind the same
//     public address.
//   - Never one of our own endpoints, and only in a family we have a punch
//     port for.
// Pure functions, tested without a network.
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import { normalizeAddress, scopeOf, inSubnet } from '@punchline/protocol/addresses'
import type { Endpoint, Introduction } from '@punchline/protocol'
import type { Family } from '../socket/family.js'

export type Path = 'public' | 'private'

export interface Candidate {
  endpoint: Endpoint
  path: Path
  /** Dialed from the punch port of this family. */
  family: Family
  /** "public 198.51.100.7:40000": for traces and logs. */
  label: string
}

/** What this host is, for judging candidates: its interfaces' networks, and where its server is. */
export interface NetworkView {
  subnets: Array<{ address: string, prefix: number }>
  /** The rendezvous server is on loopback (tests, development): the peers are on this host, loopback is fine. */
  serverOnLoopback: boolean
}

export interface CandidatePlan {
  candidates: Candidate[]
  /** Endpoints not dialed, and why: "private 10.0.2.2:4001: not on a shared network". */
  skipped: string[]
}

/** "198.51.100.7:40000" or "[2001:db8::7]:40000": for traces and logs. */
export function endpointLabel (endpoint: Endpoint): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`
}

function key (endpoint: Endpoint): string {
  return `${normalizeAddress(endpoint.address)}|${endpoint.port}`
}

/** This host's view: the networks of its non-internal interfaces, and whether `serverHost` is loopback. */
export function localNetworkView (serverHost: string): NetworkView {
  const subnets = Object.values(networkInterfaces()).flatMap((addresses) => addresses ?? [])
    .filter((address) => !address.internal && address.cidr !== null)
    .map((address) => ({ address: address.address, prefix: Number(address.cidr!.split('/')[1]) }))
  return { subnets, serverOnLoopback: scopeOf(serverHost.replace(/^\[|\]$/g, '')) === 'loopback' }
}

/** Why the public endpoint may not be dialed, or undefined when it may. */
function publicProblem (address: string, view: NetworkView): string | undefined {
  const scope = scopeOf(address)
  if (scope === undefined) return 'not an IP address'
  if (scope === 'public' || scope === 'private' || scope === 'shared') return undefined
  if (scope === 'loopback' && view.serverOnLoopback) return undefined
  return `a ${scope} address`
}

/** Why a private endpoint may not be dialed, or undefined when it may. */
function privateProblem (address: string, view: NetworkView, sameNat: boolean): string | undefined {
  if (scopeOf(address) !== 'private') return 'not a private address'
  const ours = view.subnets.some((subnet) => normalizeAddress(subnet.address) === normalizeAddress(address))
  if (ours) return sameNat ? undefined : 'one of our own addresses'
  if (sameNat || view.subnets.some((subnet) => inSubnet(address, subnet.address, subnet.prefix))) return undefined
  return 'not on a shared network'
}

/** The endpoints the server observed of a peer: its public endpoint, and its IPv6 endpoint when it has one. */
function observed (peer: Introduction['peer']): Endpoint[] {
  return peer.ipv6Endpoint === undefined ? [peer.publicEndpoint] : [peer.publicEndpoint, peer.ipv6Endpoint]
}

/**
 * The endpoints to dial for an introduction, in the address families we can
 * dial from (`families`: those we have a punch port for), without duplicates
 * and without our own endpoints. Peers behind the same NAT (same public
 * address) try their private endpoints first: most NATs do not hairpin.
 */
export function candidatesFor (introduction: Pick<Introduction, 'self' | 'peer'>, view: NetworkView, families: ReadonlySet<Family> = new Set([4])): CandidatePlan {
  const own = new Set([...observed(introduction.self), ...introduction.self.privateEndpoints].map(key))
  const sameNat = normalizeAddress(introduction.peer.publicEndpoint.address) === normalizeAddress(introduction.self.publicEndpoint.address)
  const publics = observed(introduction.peer).map((endpoint) => ({ endpoint, path: 'public' as const }))
  const privates = introduction.peer.privateEndpoints.map((endpoint) => ({ endpoint, path: 'private' as const }))
  const ordered = sameNat ? [...privates, ...publics] : [...publics, ...privates]

  const seen = new Set<string>()
  const plan: CandidatePlan = { candidates: [], skipped: [] }
  for (const { endpoint, path } of ordered) {
    const id = key(endpoint)
    const label = `${path} ${endpointLabel(endpoint)}`
    if (seen.has(id)) continue
    seen.add(id)
    const family = isIP(normalizeAddress(endpoint.address)) === 6 ? 6 : 4
    const problem = own.has(id)
      ? 'our own endpoint'
      : !families.has(family)
        ? `IPv${family}, and we have no IPv${family} punch port`
        : path === 'public' ? publicProblem(endpoint.address, view) : privateProblem(endpoint.address, view, sameNat)
    if (problem === undefined) plan.candidates.push({ endpoint, path, family, label })
    else plan.skipped.push(`${label}: ${problem}`)
  }
  return plan
}

/** Which path an accepted connection came over, judged by its source address. */
export function pathOf (remote: Endpoint, introduction: Pick<Introduction, 'peer'>): Path {
  const address = normalizeAddress(remote.address)
  if (introduction.peer.privateEndpoints.some((endpoint) => normalizeAddress(endpoint.address) === address) &&
    normalizeAddress(introduction.peer.publicEndpoint.address) !== address) return 'private'
  return 'public'
}
