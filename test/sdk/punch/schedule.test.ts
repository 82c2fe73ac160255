import { describe, expect, it } from 'vitest'
import { DIAL_TIMEOUT_MS, FAST_PHASE_MS, JITTER_FLOOR_MS, JITTER_ROUND_TRIPS, LOST_SYN_MIN_MS, LOST_SYN_ROUND_TRIPS, MIN_RETRY_GAP_MS, SLOW_RETRY_GAP_MS, UNREACHABLE_RETRY_MS, dialTimeoutMs, limitedRetryDelayMs, meansAlreadyConnected, retryDelayMs } from '../../../sdk/punch/schedule.js'
import { REMOTE_SYNS_PER_SECOND } from '../../../sdk/punch/dial-budget.js'

const refused = { code: 'ECONNREFUSED', failureRoundTripMs: 0.2, fastestRefusalMs: 0.2, elapsedMs: 100 }

describe('retryDelayMs', () => {
  it('keeps a minimum gap even when resets come back at once: at most ~1000 SYNs/s per candidate', () => {
    expect(retryDelayMs({ ...refused, random: 0 })).toBe(MIN_RETRY_GAP_MS)
  })

  it('spreads retries over at least the jitter floor when the round trip is tiny', () => {
    expect(retryDelayMs({ ...refused, random: 0.999 })).toBeCloseTo(MIN_RETRY_GAP_MS + 0.999 * JITTER_FLOOR_MS)
  })

  it('spreads retries over the failure round trip when that is longer, so the next SYN lands at a fresh offset', () => {
    const slow = { code: 'ECONNREFUSED', failureRoundTripMs: 80, fastestRefusalMs: 80, elapsedMs: 100 }
    expect(JITTER_ROUND_TRIPS).toBeGreaterThanOrEqual(0.5)
    expect(retryDelayMs({ ...slow, random: 0.5 })).toBeCloseTo(MIN_RETRY_GAP_MS + 0.5 * JITTER_ROUND_TRIPS * 80)
    expect(retryDelayMs({ ...slow, random: 0.999 })).toBeGreaterThan(0.99 * JITTER_ROUND_TRIPS * 80)
  })

  it('spreads over the fastest refusal seen, not over a refusal that waited for a SYN retransmission', () => {
    // The lab at 0 ms: refusals in ~1 ms, then one whose first SYN was lost came back after the kernel's 1 s retransmission.
    const retransmitted = { code: 'ECONNREFUSED', failureRoundTripMs: 1001, elapsedMs: 1300 }
    expect(retryDelayMs({ ...retransmitted, fastestRefusalMs: 1, random: 0.999 })).toBeLessThan(MIN_RETRY_GAP_MS + JITTER_FLOOR_MS)
    // With no faster refusal to go by, the failure's own round trip is all there is.
    expect(retryDelayMs({ ...retransmitted, fastestRefusalMs: 1001, random: 0.5 })).toBeCloseTo(MIN_RETRY_GAP_MS + 0.5 * JITTER_ROUND_TRIPS * 1001)
  })

  it('is not a fixed period: different random draws give different delays', () => {
    const delays = new Set([0.1, 0.4, 0.7].map((random) => retryDelayMs({ ...refused, random })))
    expect(delays.size).toBe(3)
  })

  it('slows down after the fast phase', () => {
    expect(retryDelayMs({ ...refused, elapsedMs: FAST_PHASE_MS + 1, random: 0 })).toBe(SLOW_RETRY_GAP_MS)
  })

  it('retries unreachable networks and dials that reached the dial timeout slowly: they say nothing about timing', () => {
    for (const [code, failureRoundTripMs] of [['ENETUNREACH', 1], ['EHOSTUNREACH', 3000], ['ETIMEDOUT', DIAL_TIMEOUT_MS]] as const) {
      const delay = retryDelayMs({ code, failureRoundTripMs, fastestRefusalMs: Infinity, elapsedMs: 10, random: 0.5 })
      expect(delay).toBeGreaterThanOrEqual(UNREACHABLE_RETRY_MS)
      expect(delay).toBeLessThan(2 * UNREACHABLE_RETRY_MS)
    }
  })

  it('dials again at once after a dial a refusing candidate left unanswered (a lost SYN), spread over its refusals\' round trip', () => {
    const abandoned = { code: 'ETIMEDOUT', failureRoundTripMs: LOST_SYN_ROUND_TRIPS * 82, elapsedMs: 700 }
    expect(retryDelayMs({ ...abandoned, fastestRefusalMs: 82, random: 0 })).toBe(MIN_RETRY_GAP_MS)
    expect(retryDelayMs({ ...abandoned, fastestRefusalMs: 82, random: 0.5 })).toBeCloseTo(MIN_RETRY_GAP_MS + 0.5 * JITTER_ROUND_TRIPS * 82)
  })
})

describe('dialTimeoutMs', () => {
  it('waits LOST_SYN_ROUND_TRIPS of the candidate\'s fastest refusal, not the kernel\'s 1 s SYN retransmission', () => {
    expect(dialTimeoutMs(82)).toBe(LOST_SYN_ROUND_TRIPS * 82)
  })

  it('never abandons a dial sooner than LOST_SYN_MIN_MS, however near the candidate', () => {
    expect(dialTimeoutMs(0.3)).toBe(LOST_SYN_MIN_MS)
  })

  it('waits the whole dial timeout before the candidate has refused a dial: a dropping NAT leaves dials unanswered until the peer\'s SYN', () => {
    expect(dialTimeoutMs(Infinity)).toBe(DIAL_TIMEOUT_MS)
    expect(dialTimeoutMs(1000)).toBe(DIAL_TIMEOUT_MS)
  })
})

describe('limitedRetryDelayMs', () => {
  const period = 1000 / REMOTE_SYNS_PER_SECOND

  it('never dials before the address has a token again', () => {
    expect(limitedRetryDelayMs(7, 0)).toBe(7)
  })

  it('adds a fresh part of one token period each time, so two rate-limited sides do not lock to one offset', () => {
    const delays = [0.1, 0.5, 0.9].map((random) => limitedRetryDelayMs(20, random))
    expect(delays).toEqual([20 + 0.1 * period, 20 + 0.5 * period, 20 + 0.9 * period])
    // The offset between two sides that wait for the same token changes with every draw, over a whole period.
    expect(limitedRetryDelayMs(20, 0.999) - limitedRetryDelayMs(20, 0)).toBeGreaterThan(0.99 * period)
  })
})

describe('meansAlreadyConnected', () => {
  it('reads EADDRNOTAVAIL on the punch port as "the address pair carries a connection already"', () => {
    expect(meansAlreadyConnected('EADDRNOTAVAIL')).toBe(true)
    expect(meansAlreadyConnected('ECONNREFUSED')).toBe(false)
  })
})
