// Introductions: a snapshot of two peers' endpoints plus a fresh shared secret,
// answered to the initiator at once and queued in the target's inbox until the
// target acknowledges it (at-least-once delivery, ordered by seq). Storing and
// acknowledging are durable writes, committed in batches (group commit); an
// inbox known to be empty is answered without a read (inbox-heads.ts), and so
// is one whose waiting introductions this instance holds (inbox-cache.ts).
import { randomUUID } from 'node:crypto'
import { Prisma, type PrismaClient, type Introduction as IntroductionRow } from '../generated/prisma/client.js'
import { errors, retryAfter } from '../errors.js'
import type { Dialect } from '../db/database.js'
import { greatest, insertJsonRows, integer, jsonRows, least, text, timestamp } from '../db/dialect.js'
import { isForeignKeyViolation } from '../db/constraint-errors.js'
import type { GroupCommit, Outcome, Transaction } from '../db/group-commit.js'
import type { Notifications } from '../db/notifications.js'
import { privateEndpointsOf, publicEndpointOf, type Clock, type RegistrationRow } from '../registrations/registrations.js'
import type { LiveRegistrations } from '../registrations/live-registrations.js'
import { InboxHeads } from './inbox-heads.js'
import { InboxCache } from './inbox-cache.js'
import { randomText } from '../random.js'
import { mappingOf } from '../registrations/mapping.js'
import { ipv6EndpointOf } from '../registrations/ipv6.js'
import { MAPPINGS, POLL_BATCH_MAX, mappingPairOf, type Endpoint, type Introduction, type Mapping, type MappingPair } from '@punchline/protocol'

export type { IntroductionRow }
export type Role = Introduction['role']

const SECRET_BYTES = 32
/** Introductions held in memory for polls (inbox-cache.ts), over all inboxes: ~1 KiB each. */
const MAX_CACHED_INTRODUCTIONS = 8192

export function roleOf (row: IntroductionRow, peerId: string): Role | null {
  if (row.initiatorId === peerId) return 'initiator'
  if (row.targetId === peerId) return 'target'
  return null
}

/** The caller's side of an introduction: 404 when there is none, 403 when the caller is not one of its peers. */
export function sideOf (row: IntroductionRow | null, introductionId: string, peerId: string): { row: IntroductionRow, role: Role } {
  if (row === null) throw new errors.INTRODUCTION_NOT_FOUND(introductionId)
  const role = roleOf(row, peerId)
  if (role === null) throw new errors.NOT_A_PARTICIPANT(peerId, introductionId)
  return { row, role }
}

/** A mapping as stored in an introduction (a value of the protocol's, or unknown). */
function storedMapping (value: string): Mapping {
  return (MAPPINGS as readonly string[]).includes(value) ? value as Mapping : 'unknown'
}

/** The pair of mappings of an introduction, e.g. "independent+dependent": what its outcome reports are counted under. */
export function mappingPairOfIntroduction (row: Pick<IntroductionRow, 'initiatorMapping' | 'targetMapping'>): MappingPair {
  return mappingPairOf(storedMapping(row.initiatorMapping), storedMapping(row.targetMapping))
}

/** An introduction's snapshot of one side's IPv6 endpoint, as a property of its view (absent: none). */
function ipv6Of (address: string | null, port: number | null): { ipv6Endpoint?: Endpoint } {
  return address === null || port === null ? {} : { ipv6Endpoint: { address, port } }
}

/** The introduction as one side sees it: itself as `self`, the other as `peer`. */
export function introductionView (row: IntroductionRow, role: Role): Introduction {
  const initiator = {
    id: row.initiatorId,
    publicEndpoint: publicEndpointOf({ publicAddress: row.initiatorPublicAddress, publicPort: row.initiatorPublicPort }),
    privateEndpoints: privateEndpointsOf({ privateEndpoints: row.initiatorPrivateEndpoints }),
    publicKey: row.initiatorPublicKey,
    mapping: storedMapping(row.initiatorMapping),
    ...ipv6Of(row.initiatorIpv6Address, row.initiatorIpv6Port)
  }
  const target = {
    id: row.targetId,
    publicEndpoint: publicEndpointOf({ publicAddress: row.targetPublicAddress, publicPort: row.targetPublicPort }),
    privateEndpoints: privateEndpointsOf({ privateEndpoints: row.targetPrivateEndpoints }),
    publicKey: row.targetPublicKey,
    mapping: storedMapping(row.targetMapping),
    ...ipv6Of(row.targetIpv6Address, row.targetIpv6Port)
  }
  return {
    id: row.id,
    secret: row.secret,
    role,
    self: role === 'initiator' ? initiator : target,
    peer: role === 'initiator' ? target : initiator,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString()
  }
}

/** Columns of one INSERT of new introductions (insertJsonRows): Prisma's createManyAndReturn measured 4x slower for the same rows on SQLite. */
const INTRODUCTION_COLUMNS = {
  id: 'text', secret: 'text', initiatorId: 'text', initiatorPublicAddress: 'text', initiatorPublicPort: 'integer', initiatorPrivateEndpoints: 'text', initiatorPublicKey: 'text',
  targetId: 'text', targetPublicAddress: 'text', targetPublicPort: 'integer', targetPrivateEndpoints: 'text', targetPublicKey: 'text', initiatorMapping: 'text', targetMapping: 'text',
  initiatorIpv6Address: 'text', initiatorIpv6Port: 'integer', targetIpv6Address: 'text', targetIpv6Port: 'integer', createdAt: 'timestamp', expiresAt: 'timestamp'
} as const

type Initiator = Pick<RegistrationRow, 'peerId' | 'tokenHash' | 'publicAddress' | 'publicPort' | 'privateEndpoints' | 'publicKey' | 'mapping' | 'mappingAddress' | 'mappingPort' | 'ipv6Address' | 'ipv6Port' | 'ipv6Anchor'>

interface IntroduceWrite {
  initiator: Initiator
  targetId: string
}

/** A stored introduction, and the registration of its target (the token digest) that it went to. */
interface Stored {
  row: IntroductionRow
  targetTokenHash: string
}

interface AcknowledgeWrite {
  peerId: string
  cursor: number
}

export interface IntroductionsOptions {
  prisma: PrismaClient
  dialect: Dialect
  now: Clock
  ttlSeconds: number
  maxPending: number
  live: LiveRegistrations
  commit: GroupCommit
  notifications: Notifications
}

export class Introductions {
  readonly #prisma: PrismaClient
  readonly #dialect: Dialect
  readonly #now: Clock
  readonly #ttlSeconds: number
  readonly #maxPending: number
  readonly #live: LiveRegistrations
  readonly #notifications: Notifications
  readonly #introduce: (write: IntroduceWrite) => Promise<Stored>
  readonly #acknowledge: (write: AcknowledgeWrite) => Promise<number>
  readonly heads = new InboxHeads()
  readonly inbox = new InboxCache(MAX_CACHED_INTRODUCTIONS)

  constructor (options: IntroductionsOptions) {
    this.#prisma = options.prisma
    this.#dialect = options.dialect
    this.#now = options.now
    this.#ttlSeconds = options.ttlSeconds
    this.#maxPending = options.maxPending
    this.#live = options.live
    this.#notifications = options.notifications
    // Introductions to one target commit one after another, in seq order, on every instance (the target's row
    // is locked first): the inbox cursor and the bound on waiting introductions rely on it.
    this.#introduce = options.commit.kind('introduce', async (tx, writes) => await this.#introduceBatch(tx, writes), (write) => [write.targetId])
    this.#acknowledge = options.commit.kind('acknowledge', async (tx, writes) => await this.#acknowledgeBatch(tx, writes), (write) => [write.peerId])
  }

  /** Stores an introduction of `initiator` to the live peer `targetId`. */
  async introduce (initiator: RegistrationRow, targetId: string): Promise<IntroductionRow> {
    if (targetId === initiator.peerId) throw new errors.SELF_INTRODUCTION()
    const { peerId, tokenHash, publicAddress, publicPort, privateEndpoints, publicKey, mapping, mappingAddress, mappingPort, ipv6Address, ipv6Port, ipv6Anchor } = initiator
    try {
      const { row, targetTokenHash } = await this.#introduce({ initiator: { peerId, tokenHash, publicAddress, publicPort, privateEndpoints, publicKey, mapping, mappingAddress, mappingPort, ipv6Address, ipv6Port, ipv6Anchor }, targetId })
      this.heads.raise(row.targetId, row.seq)
      this.inbox.stored(row, targetTokenHash)
      return row
    } catch (error) {
      // The foreign key refused a registration swept in between.
      if (isForeignKeyViolation(error)) throw new errors.PEER_NOT_FOUND(targetId)
      throw error
    }
  }

  async #introduceBatch (tx: Transaction, writes: IntroduceWrite[]): Promise<Array<Outcome<Stored>>> {
    const now = this.#now()
    const targetIds = [...new Set(writes.map((write) => write.targetId))].sort()
    const targets = new Map<string, RegistrationRow>()
    for (const row of await tx.registration.findMany({ where: { peerId: { in: targetIds } } })) {
      // This instance may hold a newer expiry and endpoint than it has written (mapping verdicts are committed, and so read here).
      const held = this.#live.peer(row.peerId)
      targets.set(row.peerId, held !== undefined && held.tokenHash === row.tokenHash && held.expiresAt > row.expiresAt ? { ...row, expiresAt: held.expiresAt, publicAddress: held.publicAddress, publicPort: held.publicPort } : row)
    }
    const live = [...targets.values()].filter((target) => target.expiresAt > now)
    // A bounded inbox: a target that does not poll cannot be buried in introductions.
    const waiting = new Map<string, number>()
    if (live.length > 0) {
      // Raw SQL with the targets as one parameter (Prisma compiled a groupBy with an OR per target anew for every batch),
      // a count per target, an index range each (as a join, PostgreSQL hash-joined every live introduction: 2.6 against 0.5 ms).
      const inboxes = jsonRows(this.#dialect, { peerId: 'text', inboxCursor: 'integer' }, live)
      const groups = await tx.$queryRaw<Array<{ targetId: string, waiting: number | bigint }>>`
        SELECT t."peerId" AS "targetId", (SELECT COUNT(*) FROM "Introduction" AS i WHERE i."targetId" = t."peerId" AND i."seq" > t."inboxCursor" AND i."expiresAt" > ${timestamp(this.#dialect, now)}) AS "waiting"
        FROM ${inboxes} AS t`
      for (const group of groups) waiting.set(group.targetId, Number(group.waiting))
    }

    const outcomes: Array<Outcome<Stored> | undefined> = []
    const data: Array<Omit<IntroductionRow, 'seq'>> = []
    for (const { initiator, targetId } of writes) {
      const target = targets.get(targetId)
      if (target === undefined || target.expiresAt <= now) { outcomes.push({ error: new errors.PEER_NOT_FOUND(targetId) }); continue }
      const count = waiting.get(targetId) ?? 0
      if (count >= this.#maxPending) {
        const oldest = await tx.introduction.findFirst({ where: { targetId, seq: { gt: target.inboxCursor }, expiresAt: { gt: now } }, orderBy: { seq: 'asc' }, select: { expiresAt: true } })
        outcomes.push({ error: retryAfter(new errors.INBOX_FULL(targetId, count), ((oldest?.expiresAt.getTime() ?? now.getTime()) - now.getTime()) / 1000) })
        continue
      }
      waiting.set(targetId, count + 1)
      outcomes.push(undefined)
      data.push({
        id: randomUUID(),
        secret: randomText(SECRET_BYTES),
        initiatorId: initiator.peerId,
        initiatorPublicAddress: initiator.publicAddress,
        initiatorPublicPort: initiator.publicPort,
        initiatorPrivateEndpoints: initiator.privateEndpoints,
        initiatorPublicKey: initiator.publicKey,
        targetId,
        targetPublicAddress: target.publicAddress,
        targetPublicPort: target.publicPort,
        targetPrivateEndpoints: target.privateEndpoints,
        targetPublicKey: target.publicKey,
        initiatorMapping: mappingOf(initiator),
        targetMapping: mappingOf(target),
        initiatorIpv6Address: ipv6EndpointOf(initiator)?.address ?? null,
        initiatorIpv6Port: ipv6EndpointOf(initiator)?.port ?? null,
        targetIpv6Address: ipv6EndpointOf(target)?.address ?? null,
        targetIpv6Port: ipv6EndpointOf(target)?.port ?? null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + this.#ttlSeconds * 1000)
      })
    }
    const seqs = data.length === 0 ? [] : await tx.$queryRaw<Array<{ seq: number | bigint, id: string }>>`${insertJsonRows(this.#dialect, 'Introduction', INTRODUCTION_COLUMNS, data)} RETURNING "seq", "id"`
    const unstored = new Map(data.map((row) => [row.id, row]))
    const byId = new Map(seqs.map(({ seq, id }) => [id, { seq: Number(seq), ...unstored.get(id)! }]))
    const stored = [...byId.values()]
    await this.#notifications.publish(async (sql) => await tx.$executeRaw(sql), stored.map((row) => ({ kind: 'introduction', row })))
    let next = 0
    return outcomes.map((outcome) => {
      if (outcome !== undefined) return outcome
      const row = byId.get(data[next++]!.id)!
      return { value: { row, targetTokenHash: targets.get(row.targetId)!.tokenHash } }
    })
  }

  /** The introduction, expired or not, until the sweeper deletes it. */
  async find (id: string): Promise<IntroductionRow | null> {
    return await this.#prisma.introduction.findUnique({ where: { id } })
  }

  async findLive (id: string): Promise<IntroductionRow | null> {
    const row = await this.find(id)
    return row !== null && row.expiresAt > this.#now() ? row : null
  }

  /** Live introductions queued after `cursor` for the peer registered with `tokenHash`, oldest first. */
  async pending (peerId: string, tokenHash: string, cursor: number): Promise<IntroductionRow[]> {
    if (this.heads.emptyAfter(peerId, cursor)) return []
    const known = this.inbox.after(peerId, tokenHash, cursor, this.#now(), POLL_BATCH_MAX)
    if (known !== undefined) return known
    const mark = this.heads.mark(peerId)
    const rows = await this.#prisma.introduction.findMany({
      where: { targetId: peerId, seq: { gt: cursor }, expiresAt: { gt: this.#now() } },
      orderBy: { seq: 'asc' },
      take: POLL_BATCH_MAX
    })
    if (rows.length < POLL_BATCH_MAX) {
      // Nothing stored for the peer while the read ran: what it found is all there is.
      if (this.heads.mark(peerId) === mark) this.inbox.learn(peerId, tokenHash, cursor, rows)
      this.heads.read(peerId, mark, rows.at(-1)?.seq ?? cursor)
    }
    return rows
  }

  /**
   * Acknowledges the peer's inbox up to `cursor` and returns its new position.
   * A cursor past the newest introduction queued for the peer is clamped, so
   * a stale or invented cursor can never swallow introductions yet to come.
   * A cursor the peer already acknowledged costs no write.
   */
  async acknowledge (peerId: string, cursor: number): Promise<number> {
    const held = this.#live.peer(peerId)
    if (held !== undefined && cursor <= held.inboxCursor) return held.inboxCursor
    const position = await this.#acknowledge({ peerId, cursor })
    const now = this.#live.peer(peerId)
    if (now !== undefined) now.inboxCursor = Math.max(now.inboxCursor, position)
    this.inbox.acknowledged(peerId, position)
    return position
  }

  async #acknowledgeBatch (tx: Transaction, writes: AcknowledgeWrite[]): Promise<Array<Outcome<number>>> {
    const highest = new Map<string, number>()
    for (const { peerId, cursor } of writes) highest.set(peerId, Math.max(highest.get(peerId) ?? 0, cursor))
    const d = this.#dialect
    const values = [...highest].map(([peerId, cursor]) => Prisma.sql`(${text(d, peerId)}, ${integer(d, cursor)})`)
    const newest = Prisma.sql`COALESCE((SELECT MAX(i."seq") FROM "Introduction" AS i WHERE i."targetId" = "Registration"."peerId"), 0)`
    // One statement for the batch, atomic without more: each cursor only moves forward, never past the newest seq.
    const rows = await tx.$queryRaw<Array<{ peerId: string, inboxCursor: number | bigint }>>`
      WITH v("peerId", "cursor") AS (VALUES ${Prisma.join(values)})
      UPDATE "Registration"
      SET "inboxCursor" = ${greatest(d, Prisma.raw('"Registration"."inboxCursor"'), least(d, Prisma.raw('v."cursor"'), newest))}
      FROM v
      WHERE "Registration"."peerId" = v."peerId"
      RETURNING "Registration"."peerId" AS "peerId", "Registration"."inboxCursor" AS "inboxCursor"`
    const positions = new Map(rows.map((row) => [row.peerId, Number(row.inboxCursor)]))
    return writes.map(({ peerId }) => {
      const position = positions.get(peerId)
      // Deregistered and swept while this request was under way.
      return position === undefined ? { error: new errors.TOKEN_INVALID() } : { value: position }
    })
  }

  /** Deletes expired introductions; `undelivered` of them were never acknowledged by their target. */
  async sweep (): Promise<{ deleted: number, undelivered: number }> {
    const now = this.#now()
    const [{ undelivered }] = await this.#prisma.$queryRaw<Array<{ undelivered: number | bigint }>>`
      SELECT COUNT(*) AS undelivered FROM "Introduction" AS i JOIN "Registration" AS r ON r."peerId" = i."targetId"
      WHERE i."expiresAt" <= ${timestamp(this.#dialect, now)} AND i."seq" > r."inboxCursor"` as [{ undelivered: number | bigint }]
    const { count } = await this.#prisma.introduction.deleteMany({ where: { expiresAt: { lte: now } } })
    const held = (peerId: string): boolean => this.#live.peer(peerId) !== undefined
    for (const peerId of this.heads.peers()) if (!held(peerId)) this.heads.forget(peerId)
    for (const peerId of this.inbox.peers()) if (!held(peerId)) this.inbox.forget(peerId)
    return { deleted: count, undelivered: Number(undelivered) }
  }
}
