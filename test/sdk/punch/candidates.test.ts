// The address-safety policy on candidates, without a network: what is dialed,
// in which order, and what is refused and why.
import { describe, expect, it } from 'vitest'
import { candidatesFor, pathOf, type NetworkView } from '../../../sdk/punch/candidates.js'

const endpoint = (text: string): { address: string, port: number } => {
  const at = text.lastIndexOf(':')
  return { address: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) }
}
interface Side { pub: string, priv: string[], v6?: string }
const side = (id: string, { pub, priv, v6 }: Side) => ({
  id, publicEndpoint: endpoint(pub), privateEndpoints: priv.map(endpoint), publicKey: null, mapping: 'unknown' as const, ...(v6 !== undefined ? { ipv6Endpoint: endpoint(v6) } : {})
})
const introduction = (self: Side, peer: Side) => ({ self: side('a', self), peer: side('b', peer) })
const BOTH = new Set([4, 6] as const)
/** A host on 10.0.1.0/24 whose server is somewhere on the internet. */
const onLan: NetworkView = { subnets: [{ address: '10.0.1.2', prefix: 24 }], serverOnLoopback: false }
const labels = (plan: { candidates: Array<{ label: string }> }): string[] => plan.candidates.map((candidate) => candidate.label)

describe('candidatesFor', () => {
  it('dials the public endpoint the server observed; a private one only on a shared network', () => {
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '203.0.113.9:6000', priv: ['10.0.2.2:4001', '10.0.1.7:4001'] }), onLan)
    expect(labels(plan)).toEqual(['public 203.0.113.9:6000', 'private 10.0.1.7:4001'])
    expect(plan.skipped).toEqual(['private 10.0.2.2:4001: not on a shared network'])
  })

  it('dials every private endpoint first behind the same NAT (same public address): NATs rarely hairpin', () => {
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '198.51.100.1:5001', priv: ['192.168.9.3:4001'] }), onLan)
    expect(plan.candidates.map((candidate) => candidate.path)).toEqual(['private', 'public'])
  })

  it('never dials what a peer merely reports outside private ranges: loopback, link-local, metadata, public third parties', () => {
    const reported = ['127.0.0.1:6379', '169.254.169.254:80', '8.8.8.8:53', '100.64.0.1:1', '224.0.0.1:1', '0.0.0.0:1', '[fe80::1]:22', '[2001:db8::1]:80']
    for (const families of [undefined, BOTH]) {
      const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '198.51.100.1:5001', priv: reported }), onLan, families)
      expect(labels(plan)).toEqual(['public 198.51.100.1:5001'])
      expect(plan.skipped).toHaveLength(reported.length)
      expect(plan.skipped.filter((reason) => reason.endsWith('not a private address') || reason.endsWith('we have no IPv6 punch port'))).toHaveLength(reported.length)
    }
  })

  it('refuses an observed endpoint that is loopback, link-local or unspecified, unless the server itself is on loopback', () => {
    for (const pub of ['127.0.0.1:6000', '169.254.1.1:6000', '0.0.0.0:6000', '255.255.255.255:6000']) {
      expect(labels(candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub, priv: [] }), onLan)), pub).toEqual([])
    }
    const local = candidatesFor(introduction({ pub: '127.0.0.1:5000', priv: [] }, { pub: '127.0.0.1:6000', priv: [] }), { subnets: [], serverOnLoopback: true })
    expect(labels(local)).toEqual(['public 127.0.0.1:6000'])
  })

  it('never dials our own endpoints, nor our own addresses unless we share the NAT', () => {
    const ownAddress = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '203.0.113.9:6000', priv: ['10.0.1.2:6379', '10.0.1.2:4000'] }), onLan)
    expect(labels(ownAddress)).toEqual(['public 203.0.113.9:6000'])
    expect(ownAddress.skipped).toEqual(['private 10.0.1.2:6379: one of our own addresses', 'private 10.0.1.2:4000: our own endpoint'])
    const ownPublic = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '198.51.100.1:5000', priv: [] }), onLan)
    expect(ownPublic.candidates).toEqual([])
    const twoOnOneHost = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '198.51.100.1:5001', priv: ['10.0.1.2:4001'] }), onLan)
    expect(labels(twoOnOneHost)).toEqual(['private 10.0.1.2:4001', 'public 198.51.100.1:5001'])
  })

  it('drops duplicates, written differently or not', () => {
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: ['10.0.1.9:1', '10.0.1.9:1'] }), onLan)
    expect(labels(plan)).toEqual(['public 203.0.113.9:6000', 'private 10.0.1.9:1'])
  })
})

describe('candidatesFor, IPv6', () => {
  /** A host with IPv4 on 10.0.1.0/24 and IPv6 on a global /64 and a unique-local /64. */
  const dualStack: NetworkView = {
    subnets: [{ address: '10.0.1.2', prefix: 24 }, { address: '2001:db8:1:1::2', prefix: 64 }, { address: 'fd00:1:1::2', prefix: 64 }],
    serverOnLoopback: false
  }

  it('races the IPv6 endpoint the server observed with the IPv4 ones, each from the punch port of its family', () => {
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [], v6: '[2001:db8:1:1::2]:5000' }, { pub: '203.0.113.9:6000', priv: [], v6: '[2001:db8:2:1::2]:6000' }), dualStack, BOTH)
    expect(plan.candidates.map(({ label, family }) => `${label} v${family}`)).toEqual(['public 203.0.113.9:6000 v4', 'public [2001:db8:2:1::2]:6000 v6'])
  })

  it('dials no IPv6 endpoint without an IPv6 punch port, and says why', () => {
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: [], v6: '[2001:db8:2:1::2]:6000' }), dualStack)
    expect(labels(plan)).toEqual(['public 203.0.113.9:6000'])
    expect(plan.skipped).toEqual(['public [2001:db8:2:1::2]:6000: IPv6, and we have no IPv6 punch port'])
  })

  it('dials a reported global IPv6 address never: only what the server observed, or unique-local on a shared network', () => {
    const reported = ['[2001:db8:2:1::99]:22', '[fe80::1]:22', '[::1]:6379', '[ff02::1]:1', '[::]:1', '[::ffff:8.8.8.8]:53']
    const plan = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: reported }), dualStack, BOTH)
    expect(labels(plan)).toEqual(['public 203.0.113.9:6000'])
    expect(plan.skipped).toHaveLength(reported.length)
    expect(plan.skipped.every((reason) => reason.endsWith('not a private address'))).toBe(true)
  })

  it('dials a unique-local endpoint (fc00::/7) only on a shared network: our subnet, or behind the same public address', () => {
    const far = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: ['[fd00:2:1::2]:6000', '[fd00:1:1::7]:6000'] }), dualStack, BOTH)
    expect(labels(far)).toEqual(['public 203.0.113.9:6000', 'private [fd00:1:1::7]:6000'])
    expect(far.skipped).toEqual(['private [fd00:2:1::2]:6000: not on a shared network'])
    const sameNat = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '198.51.100.1:6000', priv: ['[fd00:2:1::2]:6000'] }), dualStack, BOTH)
    expect(labels(sameNat)).toEqual(['private [fd00:2:1::2]:6000', 'public 198.51.100.1:6000'])
  })

  it('refuses an observed IPv6 endpoint that is loopback or link-local (unless the server is on loopback), and never dials our own', () => {
    for (const v6 of ['[::1]:6000', '[fe80::2]:6000', '[ff02::1]:6000']) {
      expect(labels(candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: [], v6 }), dualStack, BOTH)), v6).toEqual(['public 203.0.113.9:6000'])
    }
    expect(labels(candidatesFor(introduction({ pub: '127.0.0.1:5000', priv: [] }, { pub: '127.0.0.1:6000', priv: [], v6: '[::1]:6000' }), { subnets: [], serverOnLoopback: true }, BOTH)))
      .toEqual(['public 127.0.0.1:6000', 'public [::1]:6000'])
    const own = candidatesFor(introduction({ pub: '198.51.100.1:5000', priv: [], v6: '[2001:db8:1:1::2]:5000' }, { pub: '203.0.113.9:6000', priv: [], v6: '[2001:db8:1:1::2]:5000' }), dualStack, BOTH)
    expect(own.skipped).toEqual(['public [2001:db8:1:1::2]:5000: our own endpoint'])
  })
})

describe('pathOf', () => {
  const view = introduction({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: ['10.0.2.2:4001'] })
  it('is private when the connection comes from one of the peer\'s private addresses', () => {
    expect(pathOf({ address: '10.0.2.2', port: 4001 }, view)).toBe('private')
    expect(pathOf({ address: '::ffff:10.0.2.2', port: 4001 }, view)).toBe('private')
  })
  it('is public otherwise (a NAT may have changed the port)', () => {
    expect(pathOf({ address: '203.0.113.9', port: 6123 }, view)).toBe('public')
  })
})
