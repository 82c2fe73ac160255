// A peer's NAT mapping as the server observes it: the source of the
// registration's connection (to the API port) against the source of the
// mapping probe (to the mapping port), both sent from the peer's punch port.
// The server concludes from what it sees, never from what a peer says, and a
// probe can only lower what a peer gets: a peer that probes from another local
// port is judged "dependent", and once judged so against an endpoint it stays
// so until its endpoint moves.
import { isIP } from 'node:net'
import type { Endpoint, Mapping } from '@punchline/protocol'
import { normalizeAddress } from '../endpoint.js'

/** What a registration keeps of its last probe: the verdict and the public endpoint it was compared with. */
export interface MappingRecord {
  mapping: string
  mappingAddress: string | null
  mappingPort: number | null
}

/** A verdict of a probe, with the endpoint it was measured at. */
export interface MappingVerdict extends MappingRecord {
  mapping: Exclude<Mapping, 'unknown'>
  mappingAddress: string
  mappingPort: number
}

/**
 * What one probe shows. The same address and port: every destination sees
 * the endpoint the server saw (endpoint-independent). Another port, or
 * another address of the same family (a NAT whose address pooling is not
 * "paired", RFC 4787 REQ-2): the endpoint the server saw is not the one
 * another peer would meet, so for punching it is endpoint-dependent. Another
 * family (the probe went over IPv6, the registration over IPv4) tells nothing
 * of either mapping.
 */
export function judgeMapping (registered: Endpoint, probe: Endpoint): Mapping {
  const a = normalizeAddress(registered.address)
  const b = normalizeAddress(probe.address)
  if (isIP(a) !== isIP(b)) return 'unknown'
  return a === b && registered.port === probe.port ? 'independent' : 'dependent'
}

/**
 * The record after a probe of a registration whose public endpoint is
 * `registered`, or undefined when it stays as it is. A "dependent" verdict
 * against this very endpoint is never raised: a peer behind a NAT that picks a
 * new port per connection cannot probe again and again until a port happens
 * to repeat. A verdict against an older endpoint is replaced either way.
 */
export function nextMappingRecord (record: MappingRecord, registered: Endpoint, probe: Endpoint): MappingVerdict | undefined {
  const mapping = judgeMapping(registered, probe)
  if (mapping === 'unknown') return undefined
  const sameEndpoint = record.mappingAddress !== null && normalizeAddress(record.mappingAddress) === normalizeAddress(registered.address) && record.mappingPort === registered.port
  if (sameEndpoint && (record.mapping === mapping || record.mapping === 'dependent')) return undefined
  return { mapping, mappingAddress: normalizeAddress(registered.address), mappingPort: registered.port }
}

/**
 * The mapping a registration shows: its last verdict while its public address
 * is the one that verdict was measured at (a new port of the same NAT keeps
 * the NAT's behaviour), `unknown` once it is elsewhere (another network,
 * another NAT) or never probed.
 */
export function mappingOf (row: MappingRecord & { publicAddress: string }): Mapping {
  if (row.mappingAddress === null || normalizeAddress(row.mappingAddress) !== normalizeAddress(row.publicAddress)) return 'unknown'
  return row.mapping === 'independent' || row.mapping === 'dependent' ? row.mapping : 'unknown'
}
