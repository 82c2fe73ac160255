// One spray at a time per Peer, and a rest between two: whatever the
// introductions say (an attacker can make as many as the server lets it, and
// make its own mapping look dependent), this peer's spraying stays within
// SPRAY_BUDGET SYNs per SPRAY_MIN_GAP_MS and the spray's own duration.
import { performance } from 'node:perf_hooks'
import { SPRAY_MIN_GAP_MS } from './spray-schedule.js'

/** Held while a spray runs; release() once it is over (again is harmless). */
export interface SprayTurn {
  release: () => void
}

export class SprayGate {
  readonly #gapMs: number
  readonly #now: () => number
  #running = false
  #openAt = -Infinity

  constructor ({ gapMs = SPRAY_MIN_GAP_MS, now = () => performance.now() }: { gapMs?: number, now?: () => number } = {}) {
    this.#gapMs = gapMs
    this.#now = now
  }

  /** The turn to spray now, or how many ms until one may start (at the earliest). */
  take (): SprayTurn | number {
    if (this.#running) return this.#gapMs
    const wait = this.#openAt - this.#now()
    if (wait > 0) return Math.ceil(wait)
    this.#running = true
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.#running = false
        this.#openAt = this.#now() + this.#gapMs
      }
    }
  }
}
