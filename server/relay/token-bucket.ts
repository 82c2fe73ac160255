// A token bucket that says how long to wait, never "no": bytes already read
// are always forwarded, and the reader is paused until the debt they made is
// paid. So a relayed stream is slowed by TCP backpressure to the rate, and
// no byte is dropped.

/** The bucket holds this much of its rate: a burst after a pause is a quarter of a second's worth. */
export const BURST_SECONDS = 0.25
/** ... and at least this, the most a socket delivers in one read, so that one read never waits for itself. */
export const MIN_BURST_BYTES = 64 * 1024

export class TokenBucket {
  readonly #bytesPerSecond: number
  readonly #capacity: number
  readonly #now: () => number
  #tokens: number
  #at: number

  /** `now`: a clock in milliseconds (tests move it by hand). */
  constructor (bytesPerSecond: number, now: () => number = () => performance.now()) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be a number greater than 0, got ${bytesPerSecond}`)
    this.#bytesPerSecond = bytesPerSecond
    this.#capacity = Math.max(MIN_BURST_BYTES, bytesPerSecond * BURST_SECONDS)
    this.#now = now
    this.#tokens = this.#capacity
    this.#at = now()
  }

  /** Takes `bytes` (even past empty); answers the ms until the bucket is out of debt again, 0 when it is not in debt. */
  take (bytes: number): number {
    const now = this.#now()
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#bytesPerSecond / 1000)
    this.#at = now
    this.#tokens -= bytes
    return this.#tokens >= 0 ? 0 : Math.ceil(-this.#tokens * 1000 / this.#bytesPerSecond)
  }
}
