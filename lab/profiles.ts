// The networks of the laboratory's profiles, by number, shared by the punch
// tests (test/lab/nat-lab.test.ts), the mapping tests and the benchmarks.
// Profiles 1, 2, 5 and 7 are two NATs (twoNats) at a chosen WAN delay; the
// rest are built here.
import { twoNats, type LabSpec, type NatSpec } from './lab.js'

/** 1: two NATs that answer unsolicited SYNs with resets (Linux's default). */
export const resetNats = (delayMs: number): LabSpec => twoNats('reset', delayMs)
/** 2: two NATs that drop unsolicited SYNs. */
export const droppingNats = (delayMs: number): LabSpec => twoNats('drop', delayMs)
/** 5: reset NATs, and B learns of the introduction 300 ms late. */
export const lateTarget = (delayMs: number): LabSpec => twoNats('reset', delayMs, { lateMs: 300 })
/** 7: NAT a maps every connection to a new random port (MASQUERADE --random-fully). */
export const oneRandomizingNat = (delayMs: number): LabSpec => twoNats('reset', delayMs, { mappingOfA: 'random' })
/** 9: NAT a maps every connection to a new random port; both NATs drop unsolicited SYNs. */
export const oneRandomizingNatDropping = (delayMs: number): LabSpec => twoNats('drop', delayMs, { mappingOfA: 'random' })
/** 10: NAT a maps every connection to a new random port and drops unsolicited SYNs; NAT b (consistent) answers them with resets. */
export const oneRandomizingNatConsistentResets = (delayMs: number): LabSpec => {
  const spec = twoNats('drop', delayMs, { mappingOfA: 'random' })
  spec.nats[1]!.unsolicited = 'reset'
  return spec
}
/** 8: both NATs map every connection to a new random port. */
export const twoRandomizingNats = (delayMs: number): LabSpec => twoNats('reset', delayMs, { mappingOfA: 'random', mappingOfB: 'random' })

/** 3: both hosts behind one NAT, which does not hairpin. */
export const SAME_NAT: LabSpec = {
  nats: [{ name: 'a', unsolicited: 'reset', delayMs: 0, lan: '10.0.1' }],
  hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'a', address: '10.0.1.3' }]
}

/** 4: A on a public address, B behind a NAT. */
export const PUBLIC_AND_NAT: LabSpec = {
  nats: [{ name: 'b', unsolicited: 'reset', delayMs: 0, lan: '10.0.2' }],
  hosts: [{ name: 'host-a', nat: null }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }]
}

/** 6: the same private addresses on both LANs, and a stranger at B's private address on A's LAN; 20 ms per WAN link. */
export const SAME_PRIVATE_ADDRESSES: LabSpec = {
  // With WAN delay, the stranger on the LAN always answers before the public path can connect.
  nats: [{ name: 'a', unsolicited: 'reset', delayMs: 20, lan: '10.0.0' }, { name: 'b', unsolicited: 'reset', delayMs: 20, lan: '10.0.0' }],
  hosts: [{ name: 'host-a', nat: 'a', address: '10.0.0.2' }, { name: 'stranger', nat: 'a', address: '10.0.0.3' }, { name: 'host-b', nat: 'b', address: '10.0.0.3' }]
}

/**
 * IPv6: IPv4 behind two --random-fully NATs (no IPv4 punch can work), and
 * global IPv6 on both sites behind stateful firewalls, A's resetting new
 * inbound TCP and B's dropping it (the IPv4 NATs alike). The server has both
 * families, by one name.
 */
export const ipv6BehindFirewalls = (delayMs: number): LabSpec => {
  const spec = twoNats('reset', delayMs, { mappingOfA: 'random', mappingOfB: 'random' })
  const [a, b] = spec.nats as [NatSpec, NatSpec]
  return { ...spec, nats: [{ ...a, ipv6: { unsolicited: 'reset' } }, { ...b, unsolicited: 'drop', ipv6: { unsolicited: 'drop' } }] }
}
