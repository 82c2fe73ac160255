// How much punching a peer does at once, whatever it is told: at most `max`
// punches run together, at most one per remote peer (as go-libp2p), and a
// short line waits for a slot. A remote peer gets one place in the line; a
// full line, or a second place asked for, is "busy". Waiting ends with the
// caller's signal or deadline (an introduction that expires while waiting
// is not worth punching).
//
// Fairness under a flood: a peer whose punches keep failing (an attacker's
// introductions lead nowhere) yields to one that has none recently. The line
// is served fewest-recent-failures first, and a newcomer who finds every slot
// taken preempts a punch of a peer with REPEAT_FAILURES recent failures.

/** Punches under way at once, by default. */
export const DEFAULT_MAX_PUNCHES = 8
/** Punches waiting for a slot, at most. */
export const MAX_WAITING_PUNCHES = 32
/** Failed punches a peer must have had within FAILURE_MEMORY_MS before its running punch may be preempted. */
export const REPEAT_FAILURES = 2
/** How long a failed punch counts against its peer. */
export const FAILURE_MEMORY_MS = 5 * 60_000
/** Peers whose failures are remembered, at most (the oldest are forgotten first). */
const MAX_REMEMBERED_PEERS = 4096

export class PunchBusy extends Error {}
export class PunchWaitEnded extends Error {}

interface Waiter {
  peerId: string
  start: () => void
  end: (error: Error) => void
}

/** A slot in use: release it when the punch is over, saying whether it failed. */
export interface Slot {
  release: (outcome: 'connected' | 'failed' | 'ended') => void
}

export class PunchSlots {
  readonly #max: number
  readonly #now: () => number
  /** Running punches by remote peer, with how to preempt each. */
  readonly #running = new Map<string, () => void>()
  readonly #line: Waiter[] = []
  /** Remote peer → times its recent punches failed. */
  readonly #failures = new Map<string, number[]>()

  constructor (max: number, now: () => number = Date.now) {
    this.#max = max
    this.#now = now
  }

  get running (): number {
    return this.#running.size
  }

  get waiting (): number {
    return this.#line.length
  }

  /**
   * A slot for a punch to `peerId`. `preempt` ends that punch if a newcomer
   * needs its slot later. Rejects with PunchBusy when the line is full or the
   * peer already waits, and with PunchWaitEnded when `signal` aborts or
   * `deadlineMs` passes first. `onQueued` is told the line's length when the
   * punch has to wait.
   */
  async acquire (peerId: string, { signal, deadlineMs, onQueued, preempt }: { signal?: AbortSignal | undefined, deadlineMs?: number | undefined, onQueued?: (waiting: number) => void, preempt: () => void }): Promise<Slot> {
    if (this.#free(peerId) || this.#preemptFor(peerId)) return this.#take(peerId, preempt)
    if (this.#line.length >= MAX_WAITING_PUNCHES || this.#line.some((waiter) => waiter.peerId === peerId)) throw new PunchBusy(`too many punches under way (${this.#running.size} running, ${this.#line.length} waiting)`)
    return await new Promise<Slot>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const index = this.#line.indexOf(waiter)
        if (index >= 0) this.#line.splice(index, 1)
      }
      const waiter: Waiter = {
        peerId,
        start: () => { cleanup(); resolve(this.#take(peerId, preempt)) },
        end: (error) => { cleanup(); reject(error) }
      }
      const onAbort = (): void => { waiter.end(new PunchWaitEnded('aborted while waiting for a punch slot')) }
      const timer = deadlineMs === undefined ? undefined : setTimeout(() => { waiter.end(new PunchWaitEnded('expired while waiting for a punch slot')) }, Math.max(0, deadlineMs))
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#line.push(waiter)
      onQueued?.(this.#line.length)
    })
  }

  #free (peerId: string): boolean {
    return this.#running.size < this.#max && !this.#running.has(peerId)
  }

  /** Recent failures of a peer's punches (forgetting old ones). */
  #recentFailures (peerId: string): number {
    const times = this.#failures.get(peerId)
    if (times === undefined) return 0
    const since = this.#now() - FAILURE_MEMORY_MS
    while (times.length > 0 && times[0]! < since) times.shift()
    if (times.length === 0) this.#failures.delete(peerId)
    return times.length
  }

  /** A newcomer (no recent failures) takes the slot of a repeat failer's punch, which is ended. */
  #preemptFor (peerId: string): boolean {
    if (this.#running.has(peerId) || this.#recentFailures(peerId) > 0) return false
    const victim = [...this.#running.keys()].find((running) => this.#recentFailures(running) >= REPEAT_FAILURES)
    if (victim === undefined) return false
    const preempt = this.#running.get(victim)!
    this.#running.delete(victim)
    preempt()
    return true
  }

  #take (peerId: string, preempt: () => void): Slot {
    this.#running.set(peerId, preempt)
    let released = false
    return {
      release: (outcome) => {
        if (released) return
        released = true
        if (this.#running.get(peerId) === preempt) this.#running.delete(peerId)
        if (outcome === 'failed') this.#remember(peerId)
        this.#next()?.start()
      }
    }
  }

  /** The waiter to start next: of the peers that may run, the one with the fewest recent failures (then the longest waiting). */
  #next (): Waiter | undefined {
    if (this.#running.size >= this.#max) return undefined
    let best: Waiter | undefined
    for (const waiter of this.#line) {
      if (this.#running.has(waiter.peerId)) continue
      if (best === undefined || this.#recentFailures(waiter.peerId) < this.#recentFailures(best.peerId)) best = waiter
    }
    return best
  }

  #remember (peerId: string): void {
    const times = this.#failures.get(peerId) ?? []
    times.push(this.#now())
    this.#failures.delete(peerId)
    this.#failures.set(peerId, times)
    for (const oldest of this.#failures.keys()) {
      if (this.#failures.size <= MAX_REMEMBERED_PEERS) break
      this.#failures.delete(oldest)
    }
  }
}
