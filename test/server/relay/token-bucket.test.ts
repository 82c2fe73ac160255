// The relay's token bucket on a clock moved by hand: a full bucket's burst
// passes at once, debt is answered with the wait that pays it, refills are
// capped, and an impossible rate is refused before any work.
import { describe, expect, it } from 'vitest'
import { BURST_SECONDS, MIN_BURST_BYTES, TokenBucket } from '../../../server/relay/token-bucket.js'

describe('TokenBucket', () => {
  it('lets a burst through, then asks to wait exactly as long as the debt takes to pay', () => {
    let now = 0
    const rate = 1024 * 1024
    const bucket = new TokenBucket(rate, () => now)
    const burst = rate * BURST_SECONDS
    expect(bucket.take(burst)).toBe(0)
    expect(bucket.take(rate / 2)).toBe(500) // half a second's bytes past empty: half a second
    now += 500
    expect(bucket.take(0)).toBe(0) // paid
    expect(bucket.take(1024)).toBe(1) // 1 KiB at 1 MiB/s: under a millisecond, rounded up
  })

  it('refills at the rate, up to the burst and no further', () => {
    let now = 0
    const bucket = new TokenBucket(100_000, () => now)
    expect(bucket.take(MIN_BURST_BYTES)).toBe(0) // 100 kB/s: the burst is the floor, one socket read
    now += 10_000 // ten idle seconds refill one burst, not ten seconds' worth
    expect(bucket.take(MIN_BURST_BYTES)).toBe(0)
    expect(bucket.take(100_000)).toBe(1000)
  })

  it('refuses a rate that is not a positive number', () => {
    for (const rate of [0, -1, Number.NaN]) expect(() => new TokenBucket(rate)).toThrow(`bytesPerSecond must be a number greater than 0, got ${rate}`)
  })
})
