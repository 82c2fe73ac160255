import { describe, expect, it } from 'vitest'
import type { Mapping } from '@punchline/protocol'
import { sprayRoleOf, strategyFor } from '../../../sdk/punch/strategy.js'
import { BIASED_PORTS, RANDOM_PORTS, SPRAY_BUDGET, sprayPorts } from '../../../sdk/punch/spray-schedule.js'
import { SprayGate } from '../../../sdk/punch/spray-gate.js'

const pair = (self: Mapping, peer: Mapping) => ({ self: { mapping: self }, peer: { mapping: peer } }) as Parameters<typeof strategyFor>[0]

describe('strategyFor', () => {
  it.each([
    ['independent', 'independent', 'race'],
    ['unknown', 'unknown', 'race'],
    ['independent', 'unknown', 'race'],
    ['dependent', 'unknown', 'race'],
    ['unknown', 'dependent', 'race'],
    ['dependent', 'independent', 'spray'],
    ['independent', 'dependent', 'spray'],
    ['dependent', 'dependent', 'relay-now']
  ] as const)('%s + %s: %s', (self, peer, strategy) => {
    expect(strategyFor(pair(self, peer))).toBe(strategy)
  })

  it('races two randomizing IPv4 NATs when both peers have an observed IPv6 endpoint (IPv6 firewalls are punched by the race)', () => {
    const v6 = (mapping: Mapping, address: string) => ({ mapping, ipv6Endpoint: { address, port: 40000 } })
    expect(strategyFor({ self: v6('dependent', '2001:db8:a::2'), peer: v6('dependent', '2001:db8:b::2') } as Parameters<typeof strategyFor>[0])).toBe('race')
    expect(strategyFor({ self: v6('dependent', '2001:db8:a::2'), peer: { mapping: 'dependent' } } as Parameters<typeof strategyFor>[0])).toBe('relay-now')
  })

  it('gives the two sides of a spray opposite roles: the dependent side opens, the other sprays', () => {
    expect(sprayRoleOf(pair('dependent', 'independent'))).toBe('open')
    expect(sprayRoleOf(pair('independent', 'dependent'))).toBe('spray')
  })
})

describe('sprayPorts', () => {
  let seed = 1
  const random = (): number => {
    seed = (seed * 16807) % 2147483647
    return (seed - 1) / 2147483646
  }

  it('covers the biased block first, in a shuffled order, then distinct ports of the rest of the range', () => {
    const ports = sprayPorts(SPRAY_BUDGET, random)
    const block = BIASED_PORTS.max - BIASED_PORTS.min + 1
    expect(ports).toHaveLength(SPRAY_BUDGET)
    expect(new Set(ports).size).toBe(SPRAY_BUDGET)
    expect([...ports.slice(0, block)].sort((a, b) => a - b)).toEqual(Array.from({ length: block }, (_, n) => BIASED_PORTS.min + n))
    expect(ports.slice(0, block)).not.toEqual([...ports.slice(0, block)].sort((a, b) => a - b))
    for (const port of ports.slice(block)) {
      expect(port).toBeGreaterThan(BIASED_PORTS.max)
      expect(port).toBeLessThanOrEqual(RANDOM_PORTS.max)
    }
  })

  it('never sprays the excluded port (the peer NAT\'s mapping towards the server), nor more than asked', () => {
    expect(sprayPorts(SPRAY_BUDGET, random, 1500)).not.toContain(1500)
    expect(sprayPorts(SPRAY_BUDGET, random, 1500)).toHaveLength(SPRAY_BUDGET)
    expect(sprayPorts(10, random)).toHaveLength(10)
  })
})

describe('SprayGate', () => {
  it('lets one spray run at a time, and the next only a gap after it ended', () => {
    let now = 0
    const gate = new SprayGate({ gapMs: 1000, now: () => now })
    const first = gate.take()
    expect(typeof first).toBe('object')
    expect(gate.take()).toBe(1000) // running: not before a gap after its end
    now = 500
    ;(first as { release: () => void }).release()
    ;(first as { release: () => void }).release() // again: harmless
    now = 1200
    expect(gate.take()).toBe(300)
    now = 1500
    const second = gate.take()
    expect(typeof second).toBe('object')
  })
})
