// What one instance tells the others sharing its PostgreSQL database, over
// LISTEN/NOTIFY: an introduction was stored (its target's poll may be held
// elsewhere), a registration changed (drop it from token caches), or a
// registration's mapping was judged or its IPv6 endpoint observed (take it). Notices
// are sent inside the transaction that made the change, so they go out exactly
// when it commits. Prisma cannot LISTEN (its pg adapter hands out pooled
// connections per query), so the listener is a dedicated `pg` connection.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import { Prisma } from '../generated/prisma/client.js'
import type { IntroductionRow } from '../introductions/introductions.js'
import type { MappingRecord } from '../registrations/mapping.js'
import type { Ipv6Record } from '../registrations/ipv6.js'

export const CHANNEL = 'punchline'
/** Reconnecting the listener backs off from the first to the last delay. */
const RECONNECT_DELAYS_MS = [100, 500, 2000, 5000]
/** PostgreSQL refuses payloads of 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7999

export type Notice =
  | { kind: 'introduction', row: IntroductionRow }
  | { kind: 'registration', peerId: string }
  /** A mapping probe was judged: instances holding this incarnation of the peer take the verdict. */
  | { kind: 'mapping', peerId: string, tokenHash: string, record: MappingRecord }
  /** An IPv6 endpoint was observed: instances holding this incarnation of the peer take it. */
  | { kind: 'ipv6', peerId: string, tokenHash: string, record: Ipv6Record }

export interface NoticeHandlers {
  notice: (notice: Notice) => void
  /** Notices may have been missed while the listener was away. */
  resumed: () => void
}

/** Runs `sql` inside the transaction that makes the change. */
export type Execute = (sql: Prisma.Sql) => Promise<unknown>

export interface Notifications {
  /** Sends `notices` when the transaction `execute` belongs to commits. */
  publish: (execute: Execute, notices: Notice[]) => Promise<void>
  close: () => Promise<void>
}

/** One instance on a SQLite file: nobody else to tell. */
export const NO_NOTIFICATIONS: Notifications = { publish: async () => {}, close: async () => {} }

function encode (from: string, notice: Notice): string {
  const payload = JSON.stringify({ from, ...notice })
  if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new Error(`notice of ${Buffer.byteLength(payload)} bytes is over PostgreSQL's limit`)
  return payload
}

function decode (payload: string): { from: string, notice: Notice } {
  const { from, ...notice } = JSON.parse(payload) as { from: string } & Notice
  if (notice.kind === 'introduction') {
    const row = notice.row as unknown as Record<string, unknown>
    notice.row = { ...notice.row, createdAt: new Date(row.createdAt as string), expiresAt: new Date(row.expiresAt as string) }
  }
  return { from, notice }
}

export class PostgresNotifications implements Notifications {
  readonly #instance = randomUUID()
  readonly #url: string
  readonly #handlers: NoticeHandlers
  readonly #log: FastifyBaseLogger
  #client: pg.Client | undefined
  #closed = false
  #failures = 0
  #timer: NodeJS.Timeout | undefined

  static async listen (url: string, handlers: NoticeHandlers, log: FastifyBaseLogger): Promise<PostgresNotifications> {
    const notifications = new PostgresNotifications(url, handlers, log)
    await notifications.#connect()
    return notifications
  }

  private constructor (url: string, handlers: NoticeHandlers, log: FastifyBaseLogger) {
    this.#url = url
    this.#handlers = handlers
    this.#log = log
  }

  async #connect (): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url })
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || message.payload === undefined) return
      try {
        const { from, notice } = decode(message.payload)
        if (from !== this.#instance) this.#handlers.notice(notice)
      } catch (error) {
        this.#log.error({ err: error }, 'unreadable database notice')
      }
    })
    client.on('error', (error) => {
      this.#log.warn({ err: error }, 'database notice listener lost its connection; reconnecting')
      this.#retry(client)
    })
    client.on('end', () => { this.#retry(client) })
    await client.connect()
    await client.query(`LISTEN ${CHANNEL}`)
    this.#client = client
    this.#failures = 0
  }

  #retry (client: pg.Client): void {
    if (this.#closed || this.#client !== client) return
    this.#client = undefined
    client.removeAllListeners()
    client.on('error', () => {})
    void client.end().catch(() => {})
    const attempt = (): void => {
      const delay = RECONNECT_DELAYS_MS[Math.min(this.#failures++, RECONNECT_DELAYS_MS.length - 1)]
      this.#timer = setTimeout(() => {
        if (this.#closed) return
        this.#connect().then(() => { this.#handlers.resumed() }, (error: unknown) => {
          this.#log.warn({ err: error }, 'database notice listener could not reconnect')
          attempt()
        })
      }, delay)
    }
    attempt()
  }

  async publish (execute: Execute, notices: Notice[]): Promise<void> {
    if (notices.length === 0) return
    const calls = notices.map((notice) => Prisma.sql`pg_notify(${CHANNEL}, ${encode(this.#instance, notice)})`)
    await execute(Prisma.sql`SELECT ${Prisma.join(calls)}`)
  }

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    await client?.end()
  }
}
