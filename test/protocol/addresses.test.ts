// Address scopes, which decide what a peer may report as a private endpoint
// and what nobody dials on a peer's word.
import { describe, expect, it } from 'vitest'
import { inSubnet, isReportableAddress, normalizeAddress, scopeOf } from '../../protocol/addresses.js'

describe('scopeOf', () => {
  it.each([
    ['0.1.2.3', 'unspecified'], ['127.0.0.1', 'loopback'], ['169.254.169.254', 'link-local'],
    ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['172.32.0.1', 'public'], ['100.64.0.1', 'shared'], ['224.0.0.1', 'multicast'], ['255.255.255.255', 'reserved'],
    ['203.0.113.7', 'public'], ['::', 'unspecified'], ['::1', 'loopback'], ['fe80::1', 'link-local'],
    ['fd00::1', 'private'], ['ff02::1', 'multicast'], ['2001:db8::1', 'public'], ['::ffff:10.0.0.1', 'private'],
    ['FD00::1', 'private'], ['fe80::1%eth0', 'link-local']
  ])('%s is %s', (address, scope) => {
    expect(scopeOf(address)).toBe(scope)
  })

  it('has no scope for what is not an IP literal', () => {
    for (const address of ['example.com', '10.0.0.256', '::g', '']) expect(scopeOf(address)).toBeUndefined()
  })
})

describe('isReportableAddress, normalizeAddress, inSubnet', () => {
  it('lets a peer report private addresses only', () => {
    expect(['10.1.2.3', 'fd12::3'].map(isReportableAddress)).toEqual([true, true])
    expect(['127.0.0.1', '169.254.0.1', '100.64.0.1', '8.8.8.8'].map(isReportableAddress)).toEqual([false, false, false, false])
  })

  it('unwraps IPv4-mapped IPv6 and lower-cases', () => {
    expect(normalizeAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1')
    expect(normalizeAddress('2001:DB8::1')).toBe('2001:db8::1')
  })

  it('tells whether an address lies in a subnet of its family', () => {
    expect(inSubnet('192.168.5.9', '192.168.5.0', 24)).toBe(true)
    expect(inSubnet('192.168.6.9', '192.168.5.0', 24)).toBe(false)
    expect(inSubnet('2001:db8:1::9', '2001:db8:1::', 64)).toBe(true)
    expect(inSubnet('192.168.5.9', '2001:db8:1::', 64)).toBe(false)
  })
})
