// Held long-polls waiting for their peer's inbox to change. Storing an
// introduction wakes the target's waiters in-process: no database polling.
// Ending (server shutdown) releases every waiter at once.

export type WakeReason = 'arrived' | 'aborted' | 'ended'

export class InboxWaiters {
  readonly #waiting = new Map<string, Set<(reason: WakeReason) => void>>()
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
  wait (peerId: string, signal: AbortSignal): Promise<WakeReason> {
    if (this.#ended) return Promise.resolve('ended')
    if (signal.aborted) return Promise.resolve('aborted')
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(peerId)
      if (waiters === undefined) {
        waiters = new Set()
        this.#waiting.set(peerId, waiters)
      }
      const settle = (reason: WakeReason): void => {
        signal.removeEventListener('abort', onAbort)
        waiters.delete(settle)
        this.#size--
        if (waiters.size === 0 && this.#waiting.get(peerId) === waiters) this.#waiting.delete(peerId)
        resolve(reason)
      }
      const onAbort = (): void => { settle('aborted') }
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(settle)
      this.#size++
    })
  }

  wake (peerId: string): void {
    for (const settle of [...this.#waiting.get(peerId) ?? []]) settle('arrived')
  }

  /** Releases every held poll and makes later waits return at once. */
  end (): void {
    this.#ended = true
    for (const waiters of [...this.#waiting.values()]) {
      for (const settle of [...waiters]) settle('ended')
    }
  }
}
