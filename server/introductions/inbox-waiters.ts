// Held long-polls waiting for their peer's inbox to change. Storing an
// introduction wakes the target's waiters in-process, handing them the stored
// introduction itself: no database polling, and no read on the push path.
// Any other request from the peer releases its held poll: a client holds one
// connection (the SDK's, from its punch port) and pipelines its next request
// behind the poll, whose answer must come first. Ending (server shutdown)
// releases every waiter at once.

export type WakeReason = 'arrived' | 'released' | 'aborted' | 'ended'
export type Wake<Item> = { reason: 'arrived', item: Item } | { reason: Exclude<WakeReason, 'arrived'> }

export class InboxWaiters<Item> {
  readonly #waiting = new Map<string, Set<(wake: Wake<Item>) => void>>()
  #size = 0
  #ended = false

  /** Number of long-polls currently held. */
  get size (): number {
    return this.#size
  }

  get ended (): boolean {
    return this.#ended
  }

  /**
   * Resolves when `wake(peerId)` is called, when `signal` aborts, or when the
   * waiters are ended — whichever comes first. Subscribe before reading the
   * inbox, so that an arrival between the read and the wait is not missed.
   */
  wait (peerId: string, signal: AbortSignal): Promise<Wake<Item>> {
    if (this.#ended) return Promise.resolve({ reason: 'ended' })
    if (signal.aborted) return Promise.resolve({ reason: 'aborted' })
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(peerId)
      if (waiters === undefined) {
        waiters = new Set()
        this.#waiting.set(peerId, waiters)
      }
      const settle = (wake: Wake<Item>): void => {
        signal.removeEventListener('abort', onAbort)
        waiters.delete(settle)
        this.#size--
        if (waiters.size === 0 && this.#waiting.get(peerId) === waiters) this.#waiting.delete(peerId)
        resolve(wake)
      }
      const onAbort = (): void => { settle({ reason: 'aborted' }) }
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(settle)
      this.#size++
    })
  }

  /** `item` was stored in the peer's inbox: its held polls answer with it. */
  wake (peerId: string, item: Item): void {
    for (const settle of [...this.#waiting.get(peerId) ?? []]) settle({ reason: 'arrived', item })
  }

  /** The peer sent another request: its held polls answer now with what they have. */
  release (peerId: string): void {
    for (const settle of [...this.#waiting.get(peerId) ?? []]) settle({ reason: 'released' })
  }

  /** Releases every held poll and makes later waits return at once. */
  end (): void {
    this.#ended = true
    for (const waiters of [...this.#waiting.values()]) {
      for (const settle of [...waiters]) settle({ reason: 'ended' })
    }
  }
}
