// Introductions: a snapshot of two peers' endpoints plus a fresh shared secret,
// answered to the initiator at once and queued in the target's inbox until the
// target acknowledges it (at-least-once delivery, ordered by seq).
import { randomBytes, randomUUID } from 'node:crypto'
import type { PrismaClient, Introduction as IntroductionRow } from '../generated/prisma/client.js'
import { errors } from '../errors.js'
import { privateEndpointsOf, publicEndpointOf, type Clock, type RegistrationRow } from '../registrations/registrations.js'
import { POLL_BATCH_MAX, type Introduction } from '../schemas/introduction.js'

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

  constructor (prisma: PrismaClient, now: Clock, ttlSeconds: number) {
    this.#prisma = prisma
    this.#now = now
    this.#ttlSeconds = ttlSeconds
  }

  /** Stores an introduction of `initiator` to the live peer `targetId`. */
  async introduce (initiator: RegistrationRow, targetId: string): Promise<IntroductionRow> {
    if (targetId === initiator.peerId) throw new errors.SELF_INTRODUCTION()
    const now = this.#now()
    return await this.#prisma.$transaction(async (tx) => {
      const target = await tx.registration.findUnique({ where: { peerId: targetId } })
      if (target === null || target.expiresAt <= now) throw new errors.PEER_NOT_FOUND(targetId)
      return await tx.introduction.create({
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
    })
  }

  async findLive (id: string): Promise<IntroductionRow | null> {
    const row = await this.#prisma.introduction.findUnique({ where: { id } })
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
    return await this.#prisma.$transaction(async (tx) => {
      const { inboxCursor } = await tx.registration.findUniqueOrThrow({ where: { peerId }, select: { inboxCursor: true } })
      const newest = await tx.introduction.aggregate({ where: { targetId: peerId }, _max: { seq: true } })
      const acknowledged = Math.max(inboxCursor, Math.min(cursor, newest._max.seq ?? 0))
      if (acknowledged !== inboxCursor) {
        await tx.registration.update({ where: { peerId }, data: { inboxCursor: acknowledged } })
      }
      return acknowledged
    })
  }

  async sweep (): Promise<number> {
    const { count } = await this.#prisma.introduction.deleteMany({ where: { expiresAt: { lte: this.#now() } } })
    return count
  }
}
