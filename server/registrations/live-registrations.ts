// The registrations this instance serves, in memory: bearer tokens resolve by
// digest without a database read, and liveness and the observed endpoint are
// refreshed here and written behind, every peer refreshed since the last write
// in batched UPDATEs (100 rows each) once an interval. A crash loses at most one interval of
// refreshes: a registration's life in the database is at most that much
// shorter than it was, and the SDK re-registers on 401 anyway. The writes go
// through the group commit, one chunk at a time: an instance's transactions
// then never run side by side, so they cannot deadlock one another on
// PostgreSQL (a write-behind on a connection of its own locked the rows of
// peers whose acknowledgements a batch was writing, in another order).
import type { FastifyBaseLogger } from 'fastify'
import { Prisma, type PrismaClient, type Registration as RegistrationRow } from '../generated/prisma/client.js'
import type { Dialect } from '../db/database.js'
import { greatest, jsonRows, timestamp } from '../db/dialect.js'
import type { GroupCommit, Transaction } from '../db/group-commit.js'
import { addressKey, sameEndpoint } from '../endpoint.js'
import type { Endpoint } from '@punchline/protocol'
import type { MappingRecord } from './mapping.js'
import type { Ipv6Record } from './ipv6.js'

/** A moved endpoint is written this soon, so that introductions made elsewhere carry it. */
export const MOVE_WRITE_DELAY_MS = 50
/**
 * Rows per UPDATE statement of a write-behind. SQLite runs a statement on the
 * event loop's thread: 500 rows took 6-45 ms there (busy machine), stalling
 * held polls; 100-row statements with a turn of the loop between them do not.
 */
const ROWS_PER_STATEMENT = 100
/** What a write-behind writes of each registration. */
const REFRESH_COLUMNS = { peerId: 'text', tokenHash: 'text', refreshedAt: 'timestamp', expiresAt: 'timestamp', publicAddress: 'text', addressKey: 'text', publicPort: 'integer' } as const

interface Entry {
  row: RegistrationRow
  /** Refreshed since the database last got its liveness. */
  dirty: boolean
}

export interface LiveRegistrationsOptions {
  prisma: PrismaClient
  dialect: Dialect
  commit: GroupCommit
  now: () => Date
  /** The staleness bound: how often refreshes are written. */
  writeIntervalMs: number
  /** A moved peer's address key (the per-address bound) follows its new address, by this IPv6 prefix. */
  ipv6PrefixLength: number
  log: FastifyBaseLogger
}

export class LiveRegistrations {
  readonly #byToken = new Map<string, Entry>()
  readonly #byPeer = new Map<string, Entry>()
  readonly #loading = new Map<string, Promise<RegistrationRow | null>>()
  readonly #options: LiveRegistrationsOptions
  readonly #timer: NodeJS.Timeout
  readonly #refresh: (rows: RegistrationRow[]) => Promise<void>
  #soon: NodeJS.Timeout | undefined
  #writing: Promise<void> = Promise.resolve()

  constructor (options: LiveRegistrationsOptions) {
    this.#options = options
    this.#refresh = options.commit.kind('refresh', async (tx, chunks: RegistrationRow[][]) => {
      for (const rows of chunks) await this.#update(tx, rows)
      return chunks.map(() => ({ value: undefined }))
    }, (rows) => rows.map((row) => row.peerId))
    this.#timer = setInterval(() => { void this.write() }, options.writeIntervalMs)
    this.#timer.unref()
  }

  get size (): number {
    return this.#byToken.size
  }

  /**
   * The live registration of a token digest, refreshed: its expiry moves on
   * and its public endpoint follows the connection (when one is given: a
   * request on a connection of its own is not from the peer's mapping).
   */
  async authenticate (tokenHash: string, publicEndpoint: Endpoint | undefined): Promise<RegistrationRow | null> {
    const entry = await this.#entry(tokenHash)
    if (entry === undefined) return null
    const { row } = entry
    const now = this.#options.now()
    row.refreshedAt = now
    row.expiresAt = new Date(now.getTime() + row.ttlSeconds * 1000)
    entry.dirty = true
    if (publicEndpoint !== undefined && !sameEndpoint({ address: row.publicAddress, port: row.publicPort }, publicEndpoint)) {
      row.publicAddress = publicEndpoint.address
      row.addressKey = addressKey(publicEndpoint.address, this.#options.ipv6PrefixLength)
      row.publicPort = publicEndpoint.port
      this.#soon ??= setTimeout(() => { this.#soon = undefined; void this.write() }, MOVE_WRITE_DELAY_MS)
    }
    return row
  }

  /**
   * The live registration of a token digest as it is, neither refreshed nor
   * moved: for requests that do not come over the peer's own connection (the
   * mapping probe), which may reach an instance that does not hold the peer,
   * whose write of an old copy would undo the holder's refreshes.
   */
  async resolve (tokenHash: string): Promise<RegistrationRow | null> {
    return (await this.#entry(tokenHash))?.row ?? null
  }

  /**
   * The entry of a token digest, read from the database only when this
   * instance does not hold it, or holds it expired (another instance may have
   * kept it alive); undefined when it is not live.
   */
  async #entry (tokenHash: string): Promise<Entry | undefined> {
    const now = this.#options.now()
    let entry = this.#byToken.get(tokenHash)
    if (entry === undefined || entry.row.expiresAt <= now) {
      const row = await this.#load(tokenHash)
      entry = this.#byToken.get(tokenHash) // it may have changed during the read
      if (row === null || row.expiresAt <= now) {
        if (entry !== undefined && entry.row.expiresAt <= now) this.#remove(entry)
        if (entry === undefined || entry.row.expiresAt <= now) return undefined
      } else if (entry === undefined || entry.row.expiresAt < row.expiresAt) {
        entry = this.remember(row)
      }
    }
    return entry
  }

  async #load (tokenHash: string): Promise<RegistrationRow | null> {
    let loading = this.#loading.get(tokenHash)
    if (loading === undefined) {
      loading = this.#options.prisma.registration.findUnique({ where: { tokenHash } }).finally(() => { this.#loading.delete(tokenHash) })
      this.#loading.set(tokenHash, loading)
    }
    return await loading
  }

  /** Holds `row` as the database has it now (after a committed write). */
  remember (row: RegistrationRow): Entry {
    const old = this.#byPeer.get(row.peerId)
    if (old !== undefined) this.#remove(old)
    const entry: Entry = { row: { ...row }, dirty: false }
    this.#byToken.set(row.tokenHash, entry)
    this.#byPeer.set(row.peerId, entry)
    return entry
  }

  /** Takes a mapping verdict committed for this incarnation of the peer's registration (here or by another instance). */
  adoptMapping (peerId: string, tokenHash: string, record: MappingRecord): void {
    const entry = this.#byPeer.get(peerId)
    if (entry === undefined || entry.row.tokenHash !== tokenHash) return
    entry.row.mapping = record.mapping
    entry.row.mappingAddress = record.mappingAddress
    entry.row.mappingPort = record.mappingPort
  }

  /** Takes an IPv6 observation committed for this incarnation of the peer's registration (here or by another instance). */
  adoptIpv6 (peerId: string, tokenHash: string, record: Ipv6Record): void {
    const entry = this.#byPeer.get(peerId)
    if (entry === undefined || entry.row.tokenHash !== tokenHash) return
    entry.row.ipv6Address = record.ipv6Address
    entry.row.ipv6Port = record.ipv6Port
    entry.row.ipv6Anchor = record.ipv6Anchor
  }

  /** Drops what is held of the peer (its registration changed, here or on another instance). */
  forget (peerId: string): void {
    const entry = this.#byPeer.get(peerId)
    if (entry !== undefined) this.#remove(entry)
  }

  #remove (entry: Entry): void {
    if (this.#byToken.get(entry.row.tokenHash) === entry) this.#byToken.delete(entry.row.tokenHash)
    if (this.#byPeer.get(entry.row.peerId) === entry) this.#byPeer.delete(entry.row.peerId)
  }

  /** The peer's registration as held here, if any (expiry and endpoint newer than the database's). */
  peer (peerId: string): RegistrationRow | undefined {
    return this.#byPeer.get(peerId)?.row
  }

  /** Drops expired registrations whose refreshes are written. */
  evictExpired (): number {
    const now = this.#options.now()
    let evicted = 0
    for (const entry of this.#byPeer.values()) {
      if (!entry.dirty && entry.row.expiresAt <= now) {
        this.#remove(entry)
        evicted++
      }
    }
    return evicted
  }

  /** Writes every refresh not yet written (one at a time; a failed write is retried by the next). */
  async write (): Promise<void> {
    this.#writing = this.#writing.then(async () => { await this.#writeDirty() })
    await this.#writing
  }

  async #writeDirty (): Promise<void> {
    const dirty = [...this.#byPeer.values()].filter((entry) => entry.dirty)
    if (dirty.length === 0) return
    for (const entry of dirty) entry.dirty = false
    const rows = dirty.map((entry) => ({ ...entry.row }))
    try {
      for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
        await this.#refresh(rows.slice(start, start + ROWS_PER_STATEMENT))
        await new Promise((resolve) => { setImmediate(resolve) })
      }
    } catch (error) {
      for (const entry of dirty) entry.dirty = true
      this.#options.log.error({ err: error, registrations: rows.length }, 'writing registrations\' liveness failed; retrying at the next interval')
    }
  }

  /**
   * One statement for many rows. Only the same incarnation (token digest) of
   * a registration that is still live is extended, and never shortened, so a
   * late write cannot revive a deregistered or re-taken id.
   */
  async #update (tx: Transaction, rows: RegistrationRow[]): Promise<void> {
    const { dialect, now } = this.#options
    const refreshes = jsonRows(dialect, REFRESH_COLUMNS, rows)
    const current = Prisma.raw('"Registration"."expiresAt"')
    await tx.$executeRaw`
      WITH v AS ${refreshes}
      UPDATE "Registration"
      SET "refreshedAt" = v."refreshedAt", "expiresAt" = ${greatest(dialect, current, Prisma.raw('v."expiresAt"'))},
        "publicAddress" = v."publicAddress", "addressKey" = v."addressKey", "publicPort" = v."publicPort"
      FROM v
      WHERE "Registration"."peerId" = v."peerId" AND "Registration"."tokenHash" = v."tokenHash" AND "Registration"."expiresAt" > ${timestamp(dialect, now())}`
  }

  /** Stops the interval and writes what is left. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    clearTimeout(this.#soon)
    await this.write()
  }
}
