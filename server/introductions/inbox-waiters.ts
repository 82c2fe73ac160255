// Held long-polls waiting for their peer's inbox to change. Storing an
// introduction wakes the target's waiting polls in-process, handing them the
// stored introduction itself: no database polling, and no read on the push
// path. Any other request from the peer releases its polls: a client holds one
// connection (the SDK's, from its punch port) and pipelines its next request
// behind the poll, whose answer must come first. A poll takes a ticket the
// moment it is authenticated, so a release that arrives before the poll gets
// to wait is not lost. Ending (server shutdown) releases everything at once.

export type WakeReason = 'arrived' | 'released' | 'timeout' | 'aborted' | 'ended'
export type Wake<Item> = { reason: 'arrived', item: Item } | { reason: Exclude<WakeReason, 'arrived'> }

/** A poll's place in line: taken when the poll is authenticated, returned when its answer is done. */
export interface Ticket<Item> {
  readonly peerId: string
  released: boolean
  settle: ((wake: Wake<Item>) => void) | undefined
}

export class InboxWaiters<Item> {
  readonly #tickets = new Map<string, Set<Ticket<Item>>>()
  #waiting = 0
  #ended = false

  /** Number of long-polls currently held. */
  get size (): number {
    return this.#waiting
  }

  /** A ticket for a poll of `peerId`; releases of that peer from now on count for it. */
  enter (peerId: string): Ticket<Item> {
    const ticket: Ticket<Item> = { peerId, released: false, settle: undefined }
    let tickets = this.#tickets.get(peerId)
    if (tickets === undefined) {
      tickets = new Set()
      this.#tickets.set(peerId, tickets)
    }
    tickets.add(ticket)
    return ticket
  }

  /** Returns the ticket (idempotent). */
  leave (ticket: Ticket<Item>): void {
    ticket.settle?.({ reason: 'aborted' })
    const tickets = this.#tickets.get(ticket.peerId)
    if (tickets?.delete(ticket) === true && tickets.size === 0) this.#tickets.delete(ticket.peerId)
  }

  /**
   * Resolves when an introduction for the peer is stored, when the peer sends
   * another request (or did since the ticket was taken), after `timeoutMs`,
   * when the ticket is returned, or when the waiters are ended. Subscribe
   * before reading the inbox, so that an arrival between the read and the
   * wait is not missed. One timer and one closure per wait, nothing more:
   * every idle poll of every peer comes through here (an AbortController per
   * poll, with its signal, listener and event, was ~4% of an idle server's CPU).
   */
  wait (ticket: Ticket<Item>, timeoutMs: number): Promise<Wake<Item>> {
    if (this.#ended) return Promise.resolve({ reason: 'ended' })
    if (ticket.released) return Promise.resolve({ reason: 'released' })
    return new Promise((resolve) => {
      const timer = setTimeout(() => { settle({ reason: 'timeout' }) }, timeoutMs)
      const settle = (wake: Wake<Item>): void => {
        clearTimeout(timer)
        ticket.settle = undefined
        this.#waiting--
        resolve(wake)
      }
      ticket.settle = settle
      this.#waiting++
    })
  }

  /** `item` was stored in the peer's inbox: its waiting polls answer with it. */
  wake (peerId: string, item: Item): void {
    for (const ticket of [...this.#tickets.get(peerId) ?? []]) ticket.settle?.({ reason: 'arrived', item })
  }

  /** The peer sent another request: its polls answer now with what they have. */
  release (peerId: string): void {
    for (const ticket of [...this.#tickets.get(peerId) ?? []]) {
      ticket.released = true
      ticket.settle?.({ reason: 'released' })
    }
  }

  /** Every held poll answers now with what it has (its client polls again). */
  releaseAll (): void {
    for (const peerId of [...this.#tickets.keys()]) this.release(peerId)
  }

  /** Releases every held poll and makes later waits return at once. */
  end (): void {
    this.#ended = true
    for (const tickets of [...this.#tickets.values()]) {
      for (const ticket of [...tickets]) ticket.settle?.({ reason: 'ended' })
    }
  }
}
