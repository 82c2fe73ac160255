// At most one background run at a time (a mapping probe, an IPv6
// observation): a run asked for while one is under way is not started, and
// whoever waits on the runs can wait for the current one, or for a while.

export class OneRun {
  #running: Promise<void> | undefined

  /** A run is under way. */
  get busy (): boolean {
    return this.#running !== undefined
  }

  /** Starts `work` unless a run is under way; its failure is its own to handle (it should not throw). */
  start (work: () => Promise<void>): void {
    if (this.#running !== undefined) return
    this.#running = work().finally(() => { this.#running = undefined })
  }

  /** Resolves when no run is under way, or after `waitMs`. */
  async settled (waitMs: number): Promise<void> {
    const running = this.#running
    if (running === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([running, new Promise((resolve) => { timer = setTimeout(resolve, waitMs) })])
    clearTimeout(timer)
  }

  /** Resolves once a run under way has ended. */
  async stopped (): Promise<void> {
    await this.#running
  }
}
