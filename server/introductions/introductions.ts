// Introductions: a snapshot of two peers' endpoints plus a fresh shared secret,
// answered to the initiator at once and queued in the target's inbox until the
// target acknowledges it (at-least-once delivery, ordered by seq).
import { randomBytes, randomUUID } from 'node:crypto'
import type { PrismaClient, Introduction as IntroductionRow } from '../generated/prisma/client.js'
import { errors, retryAfter } from '../errors.js'
import { privateEndpointsOf, publicEndpointOf, type Clock, type RegistrationRow } from '../registrations/registrations.js'
import { POLL_BATCH_MAX, type Introduction } from '@punchline/protocol'

export type { IntroductionRow }
export type Role = Introduction['role']

const SECRET_BYTES = 32

export function roleOf (row: IntroductionRow, peerId: string): Role | null {
  if (row.initiatorId === peerId) return 'initiator'
  if (row.targetId === peerId) return 'target'
  return null
}

/** The introduction as one side sees it: itself as `self`, the other as `peer`. */
export function introductionView (row: IntroductionRow, role: Role): Introduction {
  const initiator = {
    id: row.initiatorId,
    publicEndpoint: publicEndpointOf({ publicAddress: row.initiatorPublicAddress, publicPort: row.initiatorPublicPort }),
    privateEndpoints: privateEndpointsOf({ privateEndpoints: row.initiatorPrivateEndpoints })
  }
  const target = {
    id: row.targetId,
    publicEndpoint: publicEndpointOf({ publicAddress: row.targetPublicAddress, publicPort: row.targetPublicPort }),
    privateEndpoints: privateEndpointsOf({ privateEndpoints: row.targetPrivateEndpoints })
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

export class Introductions {
  readonly #prisma: PrismaClient
  readonly #now: Clock
  readonly #ttlSeconds: number
  readonly #maxPending: number

  constructor (prisma: PrismaClient, now: Clock, { ttlSeconds, maxPending }: { ttlSeconds: number, maxPending: number }) {
    this.#prisma = prisma
    this.#now = now
    this.#ttlSeconds = ttlSeconds
    this.#maxPending = maxPending
  }

  /** Stores an introduction of `initiator` to the live peer `targetId`. */
  async introduce (initiator: RegistrationRow, targetId: string): Promise<IntroductionRow> {
    if (targetId === initiator.peerId) throw new errors.SELF_INTRODUCTION()
    const now = this.#now()
    const target = await this.#prisma.registration.findUnique({ where: { peerId: targetId } })
    if (target === null || target.expiresAt <= now) throw new errors.PEER_NOT_FOUND(targetId)
    // A bounded inbox: a target that does not poll cannot be buried in introductions.
    const waitingFilter = { targetId, seq: { gt: target.inboxCursor }, expiresAt: { gt: now } }
    const waiting = await this.#prisma.introduction.count({ where: waitingFilter, take: this.#maxPending }) // no need to count past the bound
    if (waiting >= this.#maxPending) {
      const oldest = await this.#prisma.introduction.findFirst({ where: waitingFilter, orderBy: { seq: 'asc' }, select: { expiresAt: true } })
      throw retryAfter(new errors.INBOX_FULL(targetId, waiting), ((oldest?.expiresAt.getTime() ?? now.getTime()) - now.getTime()) / 1000)
    }
    try {
      // No transaction: the foreign key refuses a target deregistered in between.
      return await this.#prisma.introduction.create({
        data: {
          id: randomUUID(),
          secret: randomBytes(SECRET_BYTES).toString('base64url'),
          initiatorId: initiator.peerId,
          initiatorPublicAddress: initiator.publicAddress,
          initiatorPublicPort: initiator.publicPort,
          initiatorPrivateEndpoints: initiator.privateEndpoints,
          targetId,
          targetPublicAddress: target.publicAddress,
          targetPublicPort: target.publicPort,
          targetPrivateEndpoints: target.privateEndpoints,
          createdAt: now,
          expiresAt: new Date(now.getTime() + this.#ttlSeconds * 1000)
        }
      })
    } catch (error) {
      if ((error as { code?: unknown }).code === 'P2003') throw new errors.PEER_NOT_FOUND(targetId)
      throw error
    }
  }

  /** The introduction, expired or not, until the sweeper deletes it. */
  async find (id: string): Promise<IntroductionRow | null> {
    return await this.#prisma.introduction.findUnique({ where: { id } })
  }

  async findLive (id: string): Promise<IntroductionRow | null> {
    const row = await this.find(id)
    return row !== null && row.expiresAt > this.#now() ? row : null
  }

  /** Live introductions queued for `peerId` after `cursor`, oldest first. */
  async pending (peerId: string, cursor: number): Promise<IntroductionRow[]> {
    return await this.#prisma.introduction.findMany({
      where: { targetId: peerId, seq: { gt: cursor }, expiresAt: { gt: this.#now() } },
      orderBy: { seq: 'asc' },
      take: POLL_BATCH_MAX
    })
  }

  /**
   * Acknowledges the peer's inbox up to `cursor` and returns its new position.
   * A cursor past the newest introduction queued for the peer is clamped, so
   * a stale or invented cursor can never swallow introductions yet to come.
   */
  async acknowledge (peerId: string, cursor: number): Promise<number> {
    // One statement, so it is atomic without a transaction.
    const rows = await this.#prisma.$queryRaw<Array<{ inboxCursor: number | bigint }>>`
      UPDATE "Registration"
      SET "inboxCursor" = MAX("inboxCursor", MIN(${cursor}, COALESCE((SELECT MAX("seq") FROM "Introduction" WHERE "targetId" = ${peerId}), 0)))
      WHERE "peerId" = ${peerId}
      RETURNING "inboxCursor"`
    if (rows[0] === undefined) throw new errors.TOKEN_INVALID() // deregistered while this request was under way
    return Number(rows[0].inboxCursor)
  }

  /** Deletes expired introductions; `undelivered` of them were never acknowledged by their target. */
  async sweep (): Promise<{ deleted: number, undelivered: number }> {
    const now = this.#now()
    const [{ undelivered }] = await this.#prisma.$queryRaw<Array<{ undelivered: number | bigint }>>`
      SELECT COUNT(*) AS undelivered FROM "Introduction" AS i JOIN "Registration" AS r ON r."peerId" = i."targetId"
      WHERE i."expiresAt" <= ${now} AND i."seq" > r."inboxCursor"` as [{ undelivered: number | bigint }]
    const { count } = await this.#prisma.introduction.deleteMany({ where: { expiresAt: { lte: now } } })
    return { deleted: count, undelivered: Number(undelivered) }
  }
}
