// Challenges for registrations with a key: fresh random values, each good for
// one registration within CHALLENGE_TTL_SECONDS, held in memory. A signature
// over one can be used once, so a captured registration cannot be replayed.
// The store is bounded: when full, the oldest challenge gives way (issuing is
// rate-limited per address like every request, so a flood only makes honest
// peers ask again).
import { CHALLENGE_TTL_SECONDS } from '@punchline/protocol'
import type { Clock } from './registrations.js'
import { randomText } from '../random.js'

/** Challenges held at once: ~100 bytes each, 10 MB at most. */
export const MAX_CHALLENGES = 100_000

export class Challenges {
  /** challenge → expiry (ms); insertion order is age order. */
  readonly #open = new Map<string, number>()
  readonly #now: Clock

  constructor (now: Clock) {
    this.#now = now
  }

  get size (): number {
    return this.#open.size
  }

  issue (): { challenge: string, expiresAt: Date } {
    const now = this.#now().getTime()
    this.#dropExpired(now)
    if (this.#open.size >= MAX_CHALLENGES) this.#open.delete(this.#open.keys().next().value!)
    const challenge = randomText(32)
    const expiresAt = now + CHALLENGE_TTL_SECONDS * 1000
    this.#open.set(challenge, expiresAt)
    return { challenge, expiresAt: new Date(expiresAt) }
  }

  /** Whether the challenge was issued here and is still good; it is spent either way. */
  take (challenge: string): boolean {
    const expiresAt = this.#open.get(challenge)
    this.#open.delete(challenge)
    return expiresAt !== undefined && expiresAt > this.#now().getTime()
  }

  #dropExpired (now: number): void {
    for (const [challenge, expiresAt] of this.#open) {
      if (expiresAt > now) return
      this.#open.delete(challenge)
    }
  }
}
