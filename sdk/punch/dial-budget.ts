// SYNs one remote address gets from this peer across all its punches: a
// token bucket per address, shared by every punch of a Peer. Whatever the
// introductions say, a third party at one address receives at most a burst
// and then a steady trickle from us.
import { performance } from 'node:perf_hooks'

/** SYNs per second to one remote address, once its burst is spent. */
export const REMOTE_SYNS_PER_SECOND = 50
/** SYNs to one remote address at once: the most one punch to a public endpoint may need (see MAX_DIALS_PER_CANDIDATE). */
export const REMOTE_SYN_BURST = 256
/**
 * Addresses remembered at most: full buckets are forgotten first (they are as
 * good as new), then the longest-known ones. Punches are capped per process
 * and per candidate too, so forgetting never unbounds the rate.
 */
const MAX_ADDRESSES = 4096

export class DialBudget {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  readonly #now: () => number

  constructor (now: () => number = () => performance.now()) {
    this.#now = now
  }

  /** 0 when a SYN to `address` may go now (and takes it); otherwise how many ms until one may. */
  take (address: string): number {
    const now = this.#now()
    const bucket = this.#buckets.get(address) ?? { tokens: REMOTE_SYN_BURST, at: now }
    bucket.tokens = Math.min(REMOTE_SYN_BURST, bucket.tokens + (now - bucket.at) * REMOTE_SYNS_PER_SECOND / 1000)
    bucket.at = now
    this.#buckets.set(address, bucket)
    if (this.#buckets.size > MAX_ADDRESSES) this.#forgetFull(now)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil((1 - bucket.tokens) * 1000 / REMOTE_SYNS_PER_SECOND)
  }

  #forgetFull (now: number): void {
    for (const [address, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * REMOTE_SYNS_PER_SECOND / 1000 >= REMOTE_SYN_BURST) this.#buckets.delete(address)
    }
    for (const address of this.#buckets.keys()) {
      if (this.#buckets.size <= MAX_ADDRESSES) break
      this.#buckets.delete(address)
    }
  }
}
