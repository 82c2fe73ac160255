// What this instance knows of each inbox's newest introduction, so that an
// idle poll learns "nothing new" without a query. An entry is an upper bound:
// no live introduction to the peer has a higher seq. Introductions stored here
// or announced by other instances raise it; an inbox read sets it. Per target,
// introductions commit in seq order (SQLite writes one transaction at a time;
// PostgreSQL locks the target's row first), which is what makes a raise sound.

interface Head {
  bound: number
  /** Raises so far: a read that saw none while it ran may lower the bound. */
  raises: number
}

export class InboxHeads {
  readonly #heads = new Map<string, Head>()

  get size (): number {
    return this.#heads.size
  }

  /** True when the peer's inbox is known to hold nothing after `cursor`. */
  emptyAfter (peerId: string, cursor: number): boolean {
    const head = this.#heads.get(peerId)
    return head !== undefined && head.bound <= cursor
  }

  /** A mark to hand to `read` once the inbox read that starts now has returned. */
  mark (peerId: string): number {
    return this.#heads.get(peerId)?.raises ?? 0
  }

  /** Introduction `seq` to the peer committed. */
  raise (peerId: string, seq: number): void {
    const head = this.#heads.get(peerId)
    if (head === undefined) this.#heads.set(peerId, { bound: seq, raises: 1 })
    else {
      head.bound = Math.max(head.bound, seq)
      head.raises++
    }
  }

  /** A read after `cursor` that started at `mark` found nothing live beyond `bound`. */
  read (peerId: string, mark: number, bound: number): void {
    const head = this.#heads.get(peerId)
    if (head === undefined) this.#heads.set(peerId, { bound, raises: 0 })
    else if (head.raises === mark) head.bound = bound
    else head.bound = Math.max(head.bound, bound)
  }

  peers (): string[] {
    return [...this.#heads.keys()]
  }

  forget (peerId: string): void {
    this.#heads.delete(peerId)
  }

  /** Announcements may have been missed: know nothing. */
  clear (): void {
    this.#heads.clear()
  }
}
