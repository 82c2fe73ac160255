// How much punching a peer does at once, whatever it is told: at most `max`
// punches run together, at most one per remote peer (as go-libp2p), and a
// short line waits for a slot. A remote peer gets one place in the line; a
// full line, or a second place asked for, is "busy". Waiting ends with the
// caller's signal or deadline (an introduction that expires while waiting
// is not worth punching).

/** Punches under way at once, by default. */
export const DEFAULT_MAX_PUNCHES = 8
/** Punches waiting for a slot, at most. */
export const MAX_WAITING_PUNCHES = 32

export class PunchBusy extends Error {}
export class PunchWaitEnded extends Error {}

interface Waiter {
  peerId: string
  start: () => void
  end: (error: Error) => void
}

export class PunchSlots {
  readonly #max: number
  readonly #running = new Set<string>()
  readonly #line: Waiter[] = []

  constructor (max: number) {
    this.#max = max
  }

  get running (): number {
    return this.#running.size
  }

  get waiting (): number {
    return this.#line.length
  }

  /**
   * A slot for a punch to `peerId`; resolves with its release. Rejects with
   * PunchBusy when the line is full or the peer already waits, and with
   * PunchWaitEnded when `signal` aborts or `deadlineMs` passes first.
   * `onQueued` is told the line's length when the punch has to wait.
   */
  async acquire (peerId: string, { signal, deadlineMs, onQueued }: { signal?: AbortSignal | undefined, deadlineMs?: number | undefined, onQueued?: (waiting: number) => void }): Promise<() => void> {
    if (this.#free(peerId)) return this.#take(peerId)
    if (this.#line.length >= MAX_WAITING_PUNCHES || this.#line.some((waiter) => waiter.peerId === peerId)) throw new PunchBusy(`too many punches under way (${this.#running.size} running, ${this.#line.length} waiting)`)
    return await new Promise<() => void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const index = this.#line.indexOf(waiter)
        if (index >= 0) this.#line.splice(index, 1)
      }
      const waiter: Waiter = {
        peerId,
        start: () => { cleanup(); resolve(this.#take(peerId)) },
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

  #take (peerId: string): () => void {
    this.#running.add(peerId)
    let released = false
    return () => {
      if (released) return
      released = true
      this.#running.delete(peerId)
      this.#line.find((waiter) => this.#free(waiter.peerId))?.start()
    }
  }
}
