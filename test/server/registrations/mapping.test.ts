// The mapping verdict as pure functions: what a probe shows, when a verdict
// changes (never upwards against the same endpoint), and what a registration
// shows after it moves.
import { describe, expect, it } from 'vitest'
import { MAPPINGS, MAPPING_PAIRS, mappingPairOf } from '@punchline/protocol'
import { judgeMapping, mappingOf, nextMappingRecord, type MappingRecord } from '../../../server/registrations/mapping.js'

const at = (address: string, port: number): { address: string, port: number } => ({ address, port })
const never: MappingRecord = { mapping: 'unknown', mappingAddress: null, mappingPort: null }

describe('judgeMapping', () => {
  it.each([
    [at('198.51.100.7', 40000), at('198.51.100.7', 40000), 'independent'],
    [at('198.51.100.7', 40000), at('::ffff:198.51.100.7', 40000), 'independent'],
    [at('198.51.100.7', 40000), at('198.51.100.7', 51234), 'dependent'],
    // Another address of the same family: the pool is not paired; the endpoint the server saw is not the one others meet.
    [at('198.51.100.7', 40000), at('198.51.100.8', 40000), 'dependent'],
    [at('2001:db8::1', 40000), at('2001:db8::2', 40000), 'dependent'],
    // Another family tells nothing.
    [at('198.51.100.7', 40000), at('2001:db8::1', 40000), 'unknown']
  ])('%o against %o: %s', (registered, probe, mapping) => {
    expect(judgeMapping(registered, probe)).toBe(mapping)
  })
})

describe('nextMappingRecord', () => {
  const registered = at('198.51.100.7', 40000)
  it('records the first verdict with the endpoint it was measured at', () => {
    expect(nextMappingRecord(never, registered, at('198.51.100.7', 40000))).toEqual({ mapping: 'independent', mappingAddress: '198.51.100.7', mappingPort: 40000 })
    expect(nextMappingRecord(never, registered, at('198.51.100.7', 1))).toEqual({ mapping: 'dependent', mappingAddress: '198.51.100.7', mappingPort: 40000 })
    expect(nextMappingRecord(never, registered, at('2001:db8::1', 40000))).toBeUndefined()
  })

  it('lowers a verdict but never raises one against the same endpoint, and starts afresh against a new one', () => {
    const independent = { mapping: 'independent', mappingAddress: '198.51.100.7', mappingPort: 40000 }
    const dependent = { ...independent, mapping: 'dependent' }
    expect(nextMappingRecord(independent, registered, at('198.51.100.7', 40000))).toBeUndefined()
    expect(nextMappingRecord(independent, registered, at('198.51.100.7', 1))).toEqual(dependent)
    expect(nextMappingRecord(dependent, registered, at('198.51.100.7', 40000))).toBeUndefined()
    expect(nextMappingRecord(dependent, at('198.51.100.7', 40001), at('198.51.100.7', 40001))).toEqual({ mapping: 'independent', mappingAddress: '198.51.100.7', mappingPort: 40001 })
  })
})

describe('mappingOf', () => {
  it('shows the verdict while the public address is the one it was measured at', () => {
    const row = { publicAddress: '198.51.100.7', mapping: 'dependent', mappingAddress: '198.51.100.7', mappingPort: 40000 }
    expect(mappingOf(row)).toBe('dependent')
    expect(mappingOf({ ...row, publicAddress: '203.0.113.9' })).toBe('unknown')
    expect(mappingOf({ ...row, ...never })).toBe('unknown')
    expect(mappingOf({ ...row, mapping: 'garbage' })).toBe('unknown')
  })
})

describe('mappingPairOf', () => {
  it('labels every pair one way, whichever side is which, with the six labels of MAPPING_PAIRS', () => {
    const labels = new Set(MAPPINGS.flatMap((a) => MAPPINGS.map((b) => mappingPairOf(a, b))))
    expect([...labels].sort()).toEqual([...MAPPING_PAIRS].sort())
    expect(mappingPairOf('dependent', 'independent')).toBe('independent+dependent')
    expect(mappingPairOf('unknown', 'dependent')).toBe('dependent+unknown')
  })
})
