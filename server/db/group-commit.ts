// Group commit: durable writes (registrations, introductions, acknowledgements,
// reports) that arrive together share one transaction, and each kind one batch
// of statements, so a burst of N requests costs a few statements, not N times
// a few. Each caller is answered only after its batch committed. A batch the
// database refuses as a whole (a conflict with another instance, say) is run
// again one write per transaction, so that only the write at fault fails.
// Where transactions of several instances run side by side (PostgreSQL), each
// first locks every row its writes will change, in one statement and one
// order, so that two of them cannot deadlock over those rows: the kinds say
// which rows.
import type { Prisma } from '../generated/prisma/client.js'

/** Writes per transaction at most; more wait for the next one. */
export const MAX_BATCH = 256
/** Large batches on a busy machine: well past what a batch takes, short of a hung database. */
const TRANSACTION_TIMEOUT_MS = 30_000

export type Transaction = Prisma.TransactionClient
/** One write's result: a value, or the error its caller gets (a 409, say) while the others commit. */
export type Outcome<R> = { value: R } | { error: Error }
/** Runs a batch of one kind of write in `tx`; returns one outcome per write, in order. */
export type BatchRunner<W, R> = (tx: Transaction, writes: W[]) => Promise<Array<Outcome<R>>>

interface Pending {
  kind: Kind<unknown, unknown>
  write: unknown
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

interface Kind<W, R> {
  name: string
  run: BatchRunner<W, R>
  rows?: ((write: W) => string[]) | undefined
}

type RunTransaction = <T>(work: (tx: Transaction) => Promise<T>, options: { maxWait: number, timeout: number }) => Promise<T>
/** Locks the rows (by key) a transaction will change, before it changes any. */
export type LockRows = (tx: Transaction, keys: string[]) => Promise<void>

export class GroupCommit {
  readonly #transaction: RunTransaction
  readonly #lockRows: LockRows | undefined
  #queue: Pending[] = []
  #running: Promise<void> | undefined
  #batches = 0
  #writes = 0

  /** `lockRows`: where other processes write the same database at the same time. */
  constructor (prisma: { $transaction: RunTransaction }, lockRows?: LockRows) {
    this.#transaction = prisma.$transaction.bind(prisma) as RunTransaction
    this.#lockRows = lockRows
  }

  /**
   * A function that submits one write of this kind and resolves once it
   * committed; `rows`: the keys of the rows a write changes (or must hold
   * still), which the transaction locks first.
   */
  kind<W, R> (name: string, run: BatchRunner<W, R>, rows?: (write: W) => string[]): (write: W) => Promise<R> {
    const kind: Kind<W, R> = { name, run, rows }
    return async (write: W) => await new Promise<R>((resolve, reject) => {
      this.#queue.push({ kind: kind as Kind<unknown, unknown>, write, resolve: resolve as (value: unknown) => void, reject })
      // Writes that arrive in the same turn of the event loop, or while a batch commits, go together.
      this.#running ??= new Promise<void>((resolve) => { setImmediate(resolve) }).then(async () => { await this.#drain() })
    })
  }

  /** Writes committed and transactions used so far (a batch per transaction). */
  get stats (): { batches: number, writes: number } {
    return { batches: this.#batches, writes: this.#writes }
  }

  /** Resolves when every write submitted so far has been answered. */
  async settled (): Promise<void> {
    while (this.#running !== undefined) await this.#running
  }

  async #drain (): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH)
        try {
          await this.#commit(batch)
        } catch (error) {
          if (batch.length === 1) batch[0]!.reject(error)
          else for (const pending of batch) await this.#commit([pending]).catch(pending.reject)
        }
      }
    } finally {
      this.#running = undefined
    }
  }

  /** One transaction for `batch`; answers every write in it once committed, or throws without answering. */
  async #commit (batch: Pending[]): Promise<void> {
    const byKind = new Map<Kind<unknown, unknown>, Pending[]>()
    for (const pending of batch) byKind.set(pending.kind, [...byKind.get(pending.kind) ?? [], pending])
    const keys = this.#lockRows === undefined ? [] : [...new Set(batch.flatMap((pending) => pending.kind.rows?.(pending.write) ?? []))]
    const outcomes = await this.#transaction(async (tx) => {
      if (keys.length > 0) await this.#lockRows!(tx, keys)
      const results = new Map<Pending, Outcome<unknown>>()
      for (const [kind, writes] of byKind) {
        const answers = await kind.run(tx, writes.map((pending) => pending.write))
        if (answers.length !== writes.length) throw new Error(`${kind.name}: ${answers.length} outcomes for ${writes.length} writes`)
        writes.forEach((pending, index) => results.set(pending, answers[index]!))
      }
      return results
    }, { maxWait: TRANSACTION_TIMEOUT_MS, timeout: TRANSACTION_TIMEOUT_MS })
    this.#batches++
    this.#writes += batch.length
    for (const [pending, outcome] of outcomes) {
      if ('error' in outcome) pending.reject(outcome.error)
      else pending.resolve(outcome.value)
    }
  }
}
