import { describe, expect, it } from 'vitest'
import { candidatesFor, pathOf } from '../../../sdk/punch/candidates.js'

const view = (self: { pub: string, priv: string[] }, peer: { pub: string, priv: string[] }) => {
  const endpoint = (text: string) => ({ address: text.split(':')[0]!, port: Number(text.split(':')[1]) })
  return {
    self: { id: 'a', publicEndpoint: endpoint(self.pub), privateEndpoints: self.priv.map(endpoint) },
    peer: { id: 'b', publicEndpoint: endpoint(peer.pub), privateEndpoints: peer.priv.map(endpoint) }
  }
}

describe('candidatesFor', () => {
  it('dials the public endpoint first, then the private ones', () => {
    const candidates = candidatesFor(view({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '203.0.113.9:6000', priv: ['10.0.2.2:4001', '192.168.5.5:4001'] }))
    expect(candidates.map((candidate) => candidate.label)).toEqual(['public 203.0.113.9:6000', 'private 10.0.2.2:4001', 'private 192.168.5.5:4001'])
  })

  it('puts private endpoints first behind the same NAT (same public address): NATs rarely hairpin', () => {
    const candidates = candidatesFor(view({ pub: '198.51.100.1:5000', priv: ['10.0.1.2:4000'] }, { pub: '198.51.100.1:5001', priv: ['10.0.1.3:4001'] }))
    expect(candidates.map((candidate) => candidate.path)).toEqual(['private', 'public'])
  })

  it('drops duplicates, our own endpoints and other address families', () => {
    const candidates = candidatesFor(view({ pub: '198.51.100.1:5000', priv: ['10.0.0.2:4000'] }, { pub: '203.0.113.9:6000', priv: ['203.0.113.9:6000', '10.0.0.2:4000', 'fd00::1:4001'] }))
    expect(candidates.map((candidate) => candidate.label)).toEqual(['public 203.0.113.9:6000'])
  })

  it('has no candidates when the peer reports nothing dialable but its public endpoint is ours', () => {
    expect(candidatesFor(view({ pub: '198.51.100.1:5000', priv: [] }, { pub: '198.51.100.1:5000', priv: [] }))).toEqual([])
  })
})

describe('pathOf', () => {
  const introduction = view({ pub: '198.51.100.1:5000', priv: [] }, { pub: '203.0.113.9:6000', priv: ['10.0.2.2:4001'] })
  it('is private when the connection comes from one of the peer\'s private addresses', () => {
    expect(pathOf({ address: '10.0.2.2', port: 4001 }, introduction)).toBe('private')
  })
  it('is public otherwise (a NAT may have changed the port)', () => {
    expect(pathOf({ address: '203.0.113.9', port: 6123 }, introduction)).toBe('public')
  })
})
