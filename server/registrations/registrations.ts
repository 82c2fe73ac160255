// Registrations: who is live, where the server saw them, what they report.
// Every authenticated request refreshes liveness and the observed endpoint.
import { randomBytes } from 'node:crypto'
import type { PrismaClient, Registration as RegistrationRow } from '../generated/prisma/client.js'
import { errors, retryAfter } from '../errors.js'
import { sameEndpoint } from '../endpoint.js'
import { type Endpoint, TTL_SECONDS, type Registration } from '@punchline/protocol'
import { hashToken, isWellFormedToken, newToken, tokenMatches } from './token.js'

export type { RegistrationRow }
export type Clock = () => Date

const GENERATED_ID_BYTES = 12
/**
 * A registration refreshed less than this long ago is not written again on the
 * next request (unless its public endpoint moved): expiry stays exact to within
 * a second, and a busy peer costs no write per request.
 */
export const REFRESH_WRITE_INTERVAL_MS = 1000

export interface RegisterRequest {
  id?: string | undefined
  privateEndpoints: Endpoint[]
  ttlSeconds?: number | undefined
  publicEndpoint: Endpoint
  /** The bearer token sent with the request, if any: needed to renew a live id. */
  token?: string | undefined
}

export interface RegisterResult {
  registration: RegistrationRow
  token: string
  /** false when a live registration was renewed with its token. */
  created: boolean
}

export function privateEndpointsOf (row: { privateEndpoints: string }): Endpoint[] {
  return JSON.parse(row.privateEndpoints) as Endpoint[]
}

export function publicEndpointOf (row: { publicAddress: string, publicPort: number }): Endpoint {
  return { address: row.publicAddress, port: row.publicPort }
}

export function registrationView (row: RegistrationRow): Registration {
  return {
    id: row.peerId,
    publicEndpoint: publicEndpointOf(row),
    privateEndpoints: privateEndpointsOf(row),
    ttlSeconds: row.ttlSeconds,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString()
  }
}

function isUniqueViolation (error: unknown): boolean {
  return (error as { code?: unknown }).code === 'P2002'
}

export class Registrations {
  readonly #prisma: PrismaClient
  readonly #now: Clock
  readonly #maxPerAddress: number

  constructor (prisma: PrismaClient, now: Clock, { maxPerAddress }: { maxPerAddress: number }) {
    this.#prisma = prisma
    this.#now = now
    this.#maxPerAddress = maxPerAddress
  }

  #expiry (now: Date, ttlSeconds: number): Date {
    return new Date(now.getTime() + ttlSeconds * 1000)
  }

  async register (request: RegisterRequest): Promise<RegisterResult> {
    const now = this.#now()
    const peerId = request.id ?? randomBytes(GENERATED_ID_BYTES).toString('base64url')
    const fields = {
      publicAddress: request.publicEndpoint.address,
      publicPort: request.publicEndpoint.port,
      privateEndpoints: JSON.stringify(request.privateEndpoints),
      refreshedAt: now
    }
    // No transaction: SQLite's unique key on peerId settles races (the loser gets 409).
    const existing = await this.#prisma.registration.findUnique({ where: { peerId } })
    if (existing !== null && existing.expiresAt > now) {
      if (request.token === undefined) throw new errors.PEER_ID_TAKEN(peerId)
      if (!tokenMatches(request.token, existing.tokenHash)) throw await this.#wrongToken(request.token, peerId, now)
      const ttlSeconds = request.ttlSeconds ?? existing.ttlSeconds
      const registration = await this.#prisma.registration.update({
        where: { peerId },
        data: { ...fields, ttlSeconds, expiresAt: this.#expiry(now, ttlSeconds) }
      })
      return { registration, token: request.token, created: false }
    }
    // One address (a NAT can front many peers) holds a bounded number of live registrations.
    const fromAddress = { publicAddress: request.publicEndpoint.address, expiresAt: { gt: now } }
    const live = await this.#prisma.registration.count({ where: fromAddress, take: this.#maxPerAddress }) // no need to count past the bound
    if (live >= this.#maxPerAddress) {
      const first = await this.#prisma.registration.findFirst({ where: fromAddress, orderBy: { expiresAt: 'asc' }, select: { expiresAt: true } })
      throw retryAfter(new errors.TOO_MANY_REGISTRATIONS(request.publicEndpoint.address, live), ((first?.expiresAt.getTime() ?? now.getTime()) - now.getTime()) / 1000)
    }
    // A free or expired id starts afresh: the old incarnation's introductions go with it.
    if (existing !== null) await this.#prisma.registration.deleteMany({ where: { peerId, expiresAt: { lte: now } } })
    const token = newToken()
    const ttlSeconds = request.ttlSeconds ?? TTL_SECONDS.default
    try {
      const registration = await this.#prisma.registration.create({
        data: { ...fields, peerId, tokenHash: hashToken(token), ttlSeconds, createdAt: now, expiresAt: this.#expiry(now, ttlSeconds) }
      })
      return { registration, token, created: true }
    } catch (error) {
      // Two registrations of one free id raced; the other one won.
      if (isUniqueViolation(error)) throw new errors.PEER_ID_TAKEN(peerId)
      throw error
    }
  }

  /** Why a token does not renew `peerId`: it is another live peer's (403, says whose), or nobody's (401). */
  async #wrongToken (token: string, peerId: string, now: Date): Promise<Error> {
    const owner = isWellFormedToken(token) ? await this.#prisma.registration.findUnique({ where: { tokenHash: hashToken(token) }, select: { peerId: true, expiresAt: true } }) : null
    return owner !== null && owner.expiresAt > now ? new errors.FORBIDDEN_PEER(owner.peerId, peerId) : new errors.TOKEN_INVALID()
  }

  /**
   * The live registration a token belongs to, refreshed: its expiry moves on
   * and its public endpoint follows the connection the request came over.
   */
  async authenticate (token: string, publicEndpoint: Endpoint): Promise<RegistrationRow | null> {
    if (!isWellFormedToken(token)) return null
    const now = this.#now()
    const row = await this.#prisma.registration.findUnique({ where: { tokenHash: hashToken(token) } })
    if (row === null || row.expiresAt <= now) return null
    const moved = !sameEndpoint(publicEndpointOf(row), publicEndpoint)
    if (!moved && now.getTime() - row.refreshedAt.getTime() < REFRESH_WRITE_INTERVAL_MS) return row
    return await this.#prisma.registration.update({
      where: { peerId: row.peerId },
      data: {
        refreshedAt: now,
        expiresAt: this.#expiry(now, row.ttlSeconds),
        ...(moved ? { publicAddress: publicEndpoint.address, publicPort: publicEndpoint.port } : {})
      }
    })
  }

  async update (peerId: string, changes: { privateEndpoints?: Endpoint[] | undefined, ttlSeconds?: number | undefined }): Promise<RegistrationRow> {
    const now = this.#now()
    return await this.#prisma.registration.update({
      where: { peerId },
      data: {
        ...(changes.privateEndpoints !== undefined ? { privateEndpoints: JSON.stringify(changes.privateEndpoints) } : {}),
        ...(changes.ttlSeconds !== undefined ? { ttlSeconds: changes.ttlSeconds, expiresAt: this.#expiry(now, changes.ttlSeconds) } : {})
      }
    })
  }

  /**
   * Ends a registration now: its token stops working and its id is free. The
   * row stays, expired, until the introductions it is part of have expired
   * too, so that the other peer can still report how its punch ended.
   */
  async deregister (peerId: string): Promise<void> {
    await this.#prisma.registration.updateMany({ where: { peerId }, data: { expiresAt: this.#now() } })
  }

  async findLive (peerId: string): Promise<RegistrationRow | null> {
    const row = await this.#prisma.registration.findUnique({ where: { peerId } })
    return row !== null && row.expiresAt > this.#now() ? row : null
  }

  async countLive (): Promise<number> {
    return await this.#prisma.registration.count({ where: { expiresAt: { gt: this.#now() } } })
  }

  /** Deletes expired registrations that no live introduction refers to (their expired ones go by cascade). */
  async sweep (): Promise<number> {
    const now = this.#now()
    const live = { expiresAt: { gt: now } }
    const { count } = await this.#prisma.registration.deleteMany({ where: { expiresAt: { lte: now }, initiated: { none: live }, received: { none: live } } })
    return count
  }
}
