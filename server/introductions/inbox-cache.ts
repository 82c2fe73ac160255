// The live introductions waiting in an inbox, kept in memory where this
// instance knows all of them, so that a poll that finds introductions waiting
// is answered without a read. An entry is learnt from an inbox read and then
// follows the introductions this instance stores for that registration (its
// token digest: a peer that registers again starts with an unknown inbox);
// acknowledgements trim it. Anything this instance cannot follow (an
// introduction stored by another instance, a missed notice) forgets the entry,
// and the next poll reads the database again.
import type { Introduction as IntroductionRow } from '../generated/prisma/client.js'

interface Entry {
  tokenHash: string
  /** Every live introduction to the peer with a higher seq than this is in `rows`. */
  after: number
  /** Ascending by seq. */
  rows: IntroductionRow[]
}

export class InboxCache {
  readonly #entries = new Map<string, Entry>()
  readonly #maxRows: number
  #rows = 0

  /** `maxRows`: introductions held in all entries together; the entries learnt first give way. */
  constructor (maxRows: number) {
    this.#maxRows = maxRows
  }

  /** Introductions held, over all entries. */
  get rows (): number {
    return this.#rows
  }

  /** The live introductions after `cursor`, oldest first, at most `max`; undefined when this instance does not know them. */
  after (peerId: string, tokenHash: string, cursor: number, now: Date, max: number): IntroductionRow[] | undefined {
    const entry = this.#entries.get(peerId)
    if (entry === undefined || entry.tokenHash !== tokenHash || cursor < entry.after) return undefined
    const rows: IntroductionRow[] = []
    for (const row of entry.rows) {
      if (row.seq > cursor && row.expiresAt > now) rows.push(row)
      if (rows.length === max) break
    }
    return rows
  }

  /**
   * A read found `rows` to be every live introduction after `cursor` (the read was not cut
   * short by its limit, and no introduction to the peer was stored while it ran).
   */
  learn (peerId: string, tokenHash: string, cursor: number, rows: IntroductionRow[]): void {
    this.forget(peerId)
    if (rows.length > this.#maxRows) return
    this.#entries.set(peerId, { tokenHash, after: cursor, rows: [...rows] })
    this.#rows += rows.length
    this.#trim()
  }

  /** This instance stored `row` in the inbox of the target registered with `tokenHash`. */
  stored (row: IntroductionRow, tokenHash: string): void {
    const entry = this.#entries.get(row.targetId)
    if (entry === undefined) return
    if (entry.tokenHash !== tokenHash) {
      this.forget(row.targetId)
      return
    }
    // A read that ran after the commit has it already; per target, introductions commit in seq order.
    if (row.seq <= (entry.rows.at(-1)?.seq ?? entry.after)) return
    // Expired ones go first (one time to live for all: they expire in seq order); polls skip them meanwhile.
    const expired = entry.rows.findIndex((held) => held.expiresAt > row.createdAt)
    const dropped = expired === -1 ? entry.rows.length : expired
    if (dropped > 0) entry.rows.splice(0, dropped)
    entry.rows.push(row)
    this.#rows += 1 - dropped
    this.#trim()
  }

  /** The peer acknowledged its inbox up to `cursor`. */
  acknowledged (peerId: string, cursor: number): void {
    const entry = this.#entries.get(peerId)
    if (entry === undefined || cursor <= entry.after) return
    const kept = entry.rows.filter((row) => row.seq > cursor)
    this.#rows -= entry.rows.length - kept.length
    entry.rows = kept
    entry.after = cursor
  }

  forget (peerId: string): void {
    const entry = this.#entries.get(peerId)
    if (entry === undefined) return
    this.#rows -= entry.rows.length
    this.#entries.delete(peerId)
  }

  peers (): string[] {
    return [...this.#entries.keys()]
  }

  /** Introductions may have been stored elsewhere unseen: know nothing. */
  clear (): void {
    this.#entries.clear()
    this.#rows = 0
  }

  #trim (): void {
    for (const peerId of this.#entries.keys()) {
      if (this.#rows <= this.#maxRows) return
      this.forget(peerId)
    }
  }
}
