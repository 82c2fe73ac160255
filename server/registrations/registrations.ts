// Registrations: who is live, where the server saw them, what they report.
// Every authenticated request refreshes liveness and the observed endpoint in
// memory (live-registrations.ts); registering, updating and deregistering are
// durable writes, registrations arriving together committed as one batch.
import { randomText } from '../random.js'
import { Prisma, type PrismaClient, type Registration as RegistrationRow } from '../generated/prisma/client.js'
import { errors, retryAfter } from '../errors.js'
import { addressKey } from '../endpoint.js'
import type { Dialect } from '../db/database.js'
import { insertJsonRows, integer, text, timestamp } from '../db/dialect.js'
import { isUniqueViolation } from '../db/constraint-errors.js'
import type { GroupCommit, Outcome, Transaction } from '../db/group-commit.js'
import type { Notice, Notifications } from '../db/notifications.js'
import { registrationMessage, signatureMatches, type Endpoint, type KeyProof, TTL_SECONDS, type Registration } from '@punchline/protocol'
import type { Challenges } from './challenges.js'
import { hashToken, isWellFormedToken, newToken, tokenMatches } from './token.js'
import type { LiveRegistrations } from './live-registrations.js'
import { mappingOf, nextMappingRecord, type MappingVerdict } from './mapping.js'
import { ipv6EndpointOf, ipv6RecordOf, NO_IPV6, sameIpv6Record, type Ipv6Record } from './ipv6.js'

export type { RegistrationRow }
export type Clock = () => Date

const GENERATED_ID_BYTES = 12

export interface RegisterRequest {
  id?: string | undefined
  privateEndpoints: Endpoint[]
  ttlSeconds?: number | undefined
  publicEndpoint: Endpoint
  /** The bearer token sent with the request, if any: needed to renew a live id. */
  token?: string | undefined
  /** Proof of the key the id is (to be) bound to. */
  proof?: KeyProof | undefined
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
  const ipv6Endpoint = ipv6EndpointOf(row)
  return {
    id: row.peerId,
    publicEndpoint: publicEndpointOf(row),
    privateEndpoints: privateEndpointsOf(row),
    publicKey: row.publicKey,
    mapping: mappingOf(row),
    ...(ipv6Endpoint !== undefined ? { ipv6Endpoint } : {}),
    ttlSeconds: row.ttlSeconds,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString()
  }
}

/**
 * One multi-row INSERT: Prisma's createMany measured 5x slower for the same
 * rows on SQLite (10 ms against 2 ms for 21 rows), the cost of most of a batch.
 */
const REGISTRATION_COLUMNS = {
  peerId: 'text', tokenHash: 'text', publicAddress: 'text', addressKey: 'text', publicPort: 'integer', privateEndpoints: 'text',
  publicKey: 'text', ttlSeconds: 'integer', inboxCursor: 'integer', createdAt: 'timestamp', refreshedAt: 'timestamp', expiresAt: 'timestamp'
} as const

/** Advisory locks of registrations per address live in their own key space (the two-key form). */
const ADDRESS_LOCK_SPACE = 1

interface RegisterWrite {
  peerId: string
  fields: { publicAddress: string, addressKey: string, publicPort: number, privateEndpoints: string }
  ttlSeconds: number | undefined
  token: string | undefined
  /** The key proven with this request, or null for a registration without one. */
  publicKey: string | null
}

interface MappingWrite extends MappingVerdict {
  peerId: string
  tokenHash: string
}

interface Ipv6Write extends Ipv6Record {
  peerId: string
  tokenHash: string
}

interface UpdateWrite {
  peerId: string
  privateEndpoints?: Endpoint[] | undefined
  ttlSeconds?: number | undefined
}

export interface RegistrationsOptions {
  prisma: PrismaClient
  dialect: Dialect
  now: Clock
  /** Live registrations from one address (or IPv6 prefix) at most; 0: no bound, nothing counted. */
  maxPerAddress: number
  /** IPv6 addresses count by this prefix for the per-address bound. */
  ipv6PrefixLength: number
  live: LiveRegistrations
  commit: GroupCommit
  notifications: Notifications
  challenges: Challenges
  /** How long after its registration ends an id bound to a key stays reserved for that key. */
  reservationMs: number
}

export class Registrations {
  readonly #prisma: PrismaClient
  readonly #dialect: Dialect
  readonly #now: Clock
  readonly #maxPerAddress: number | undefined
  readonly #ipv6PrefixLength: number
  readonly #live: LiveRegistrations
  readonly #notifications: Notifications
  readonly #challenges: Challenges
  readonly #reservationMs: number
  readonly #register: (write: RegisterWrite) => Promise<RegisterResult>
  readonly #update: (write: UpdateWrite) => Promise<RegistrationRow | null>
  readonly #deregister: (peerId: string) => Promise<void>
  readonly #recordMapping: (write: MappingWrite) => Promise<void>
  readonly #recordIpv6: (write: Ipv6Write) => Promise<void>

  constructor (options: RegistrationsOptions) {
    this.#prisma = options.prisma
    this.#dialect = options.dialect
    this.#now = options.now
    this.#maxPerAddress = options.maxPerAddress === 0 ? undefined : options.maxPerAddress
    this.#ipv6PrefixLength = options.ipv6PrefixLength
    this.#live = options.live
    this.#notifications = options.notifications
    this.#challenges = options.challenges
    this.#reservationMs = options.reservationMs
    this.#register = options.commit.kind('register', async (tx, writes) => await this.#registerBatch(tx, writes), (write) => [write.peerId])
    this.#update = options.commit.kind('update', async (tx, writes) => await this.#updateBatch(tx, writes), (write) => [write.peerId])
    this.#deregister = options.commit.kind('deregister', async (tx, peerIds) => await this.#deregisterBatch(tx, peerIds), (peerId) => [peerId])
    this.#recordMapping = options.commit.kind('mapping', async (tx, writes) => await this.#mappingBatch(tx, writes), (write) => [write.peerId])
    this.#recordIpv6 = options.commit.kind('ipv6', async (tx, writes) => await this.#ipv6Batch(tx, writes), (write) => [write.peerId])
  }

  #expiry (now: Date, ttlSeconds: number): Date {
    return new Date(now.getTime() + ttlSeconds * 1000)
  }

  /** When `row` expires, counting refreshes this instance holds and has not written yet. */
  /** Why a token does not renew `peerId`: it is another live peer's (403, says whose), or nobody's (401). */
  async #wrongToken (tx: Transaction, token: string, peerId: string, now: Date): Promise<Error> {
    const owner = isWellFormedToken(token) ? await tx.registration.findUnique({ where: { tokenHash: hashToken(token) } }) : null
    return owner !== null && this.#expiresAt(owner) > now ? new errors.FORBIDDEN_PEER(owner.peerId, peerId) : new errors.TOKEN_INVALID()
  }

  #expiresAt (row: RegistrationRow): Date {
    const held = this.#live.peer(row.peerId)
    return held !== undefined && held.tokenHash === row.tokenHash && held.expiresAt > row.expiresAt ? held.expiresAt : row.expiresAt
  }

  async #publish (tx: Transaction, notices: Notice[]): Promise<void> {
    await this.#notifications.publish(async (sql) => await tx.$executeRaw(sql), notices)
  }

  /** The key a registration proves it holds, or null without a proof; throws when the proof fails. */
  #provenKey (request: RegisterRequest): string | null {
    const { proof } = request
    if (proof === undefined) return null
    if (!this.#challenges.take(proof.challenge)) throw new errors.CHALLENGE_INVALID()
    if (!signatureMatches(proof.publicKey, registrationMessage(proof.challenge, request.id, proof.publicKey), proof.signature)) throw new errors.SIGNATURE_INVALID()
    return proof.publicKey
  }

  /** Until when a row's id is reserved for its key (its registration's end, plus the reservation period). */
  #reservedUntil (row: RegistrationRow): Date {
    return new Date(this.#expiresAt(row).getTime() + this.#reservationMs)
  }

  async register (request: RegisterRequest): Promise<RegisterResult> {
    const publicKey = this.#provenKey(request)
    const write: RegisterWrite = {
      peerId: request.id ?? randomText(GENERATED_ID_BYTES),
      fields: {
        publicAddress: request.publicEndpoint.address,
        addressKey: addressKey(request.publicEndpoint.address, this.#ipv6PrefixLength),
        publicPort: request.publicEndpoint.port,
        privateEndpoints: JSON.stringify(request.privateEndpoints)
      },
      ttlSeconds: request.ttlSeconds,
      token: request.token,
      publicKey
    }
    try {
      const result = await this.#register(write)
      this.#live.remember(result.registration)
      return result
    } catch (error) {
      // Two registrations of one free id raced (on two instances); the other one won.
      if (isUniqueViolation(error)) throw new errors.PEER_ID_TAKEN(write.peerId)
      throw error
    }
  }

  async #registerBatch (tx: Transaction, writes: RegisterWrite[]): Promise<Array<Outcome<RegisterResult>>> {
    const now = this.#now()
    const existing = new Map((await tx.registration.findMany({ where: { peerId: { in: [...new Set(writes.map((write) => write.peerId))] } } })).map((row) => [row.peerId, row]))
    const isLive = (peerId: string): boolean => { const row = existing.get(peerId); return row !== undefined && this.#expiresAt(row) > now }
    const renews = (write: RegisterWrite): boolean => isLive(write.peerId) && write.token !== undefined && tokenMatches(write.token, existing.get(write.peerId)!.tokenHash)
    // One address (a NAT can front many peers) holds a bounded number of live registrations.
    const creating = this.#maxPerAddress === undefined ? [] : [...new Set(writes.filter((write) => !renews(write)).map((write) => write.fields.addressKey))].sort()
    const liveFrom = new Map<string, number>()
    if (creating.length > 0) {
      if (this.#dialect === 'postgresql') {
        // Instances count and insert one address at a time, so the bound holds across them.
        await tx.$executeRaw`SELECT ${Prisma.join(creating.map((address) => Prisma.sql`pg_advisory_xact_lock(${ADDRESS_LOCK_SPACE}::integer, hashtext(${address}::text))`))}`
      }
      const groups = await tx.registration.groupBy({ by: ['addressKey'], where: { addressKey: { in: creating }, expiresAt: { gt: now } }, _count: { _all: true } })
      for (const group of groups) liveFrom.set(group.addressKey, group._count._all)
    }

    const outcomes: Array<Outcome<RegisterResult>> = []
    const created: RegistrationRow[] = []
    const retaken: string[] = []
    const takenOver: string[] = []
    const notices: Notice[] = []
    for (const write of writes) {
      const { peerId, fields } = write
      const row = existing.get(peerId)
      // An id bound to a key is that key's while it lives and for the reservation period after.
      if (row !== undefined && row.publicKey !== null && row.publicKey !== write.publicKey && this.#reservedUntil(row) > now) {
        outcomes.push({ error: new errors.PEER_ID_RESERVED(peerId, this.#reservedUntil(row).toISOString()) })
        continue
      }
      // The key that holds an id may take it over while it is live: a restarted peer that lost its token.
      const takeover = row !== undefined && row.publicKey !== null && row.publicKey === write.publicKey && !renews(write)
      if (row !== undefined && isLive(peerId) && !takeover) {
        if (write.token === undefined) { outcomes.push({ error: new errors.PEER_ID_TAKEN(peerId) }); continue }
        if (!tokenMatches(write.token, row.tokenHash)) { outcomes.push({ error: await this.#wrongToken(tx, write.token, peerId, now) }); continue }
        const ttlSeconds = write.ttlSeconds ?? row.ttlSeconds
        const registration = await tx.registration.update({ where: { peerId }, data: { ...fields, refreshedAt: now, ttlSeconds, expiresAt: this.#expiry(now, ttlSeconds) } })
        existing.set(peerId, registration)
        notices.push({ kind: 'registration', peerId })
        outcomes.push({ value: { registration, token: write.token, created: false } })
        continue
      }
      const live = liveFrom.get(fields.addressKey) ?? 0
      if (this.#maxPerAddress !== undefined && live >= this.#maxPerAddress) {
        const first = await tx.registration.findFirst({ where: { addressKey: fields.addressKey, expiresAt: { gt: now } }, orderBy: { expiresAt: 'asc' }, select: { expiresAt: true } })
        outcomes.push({ error: retryAfter(new errors.TOO_MANY_REGISTRATIONS(fields.addressKey, live), ((first?.expiresAt.getTime() ?? now.getTime()) - now.getTime()) / 1000) })
        continue
      }
      liveFrom.set(fields.addressKey, live + 1)
      // A free, expired or taken-over id starts afresh: the old incarnation's introductions go with it.
      if (row !== undefined) {
        (isLive(peerId) ? takenOver : retaken).push(peerId)
        notices.push({ kind: 'registration', peerId })
      }
      const token = newToken()
      const ttlSeconds = write.ttlSeconds ?? TTL_SECONDS.default
      const registration: RegistrationRow = {
        ...fields, peerId, tokenHash: hashToken(token), publicKey: write.publicKey, ttlSeconds, inboxCursor: 0, mapping: 'unknown', mappingAddress: null, mappingPort: null, ...NO_IPV6,
        createdAt: now, refreshedAt: now, expiresAt: this.#expiry(now, ttlSeconds)
      }
      existing.set(peerId, registration) // a second write of the id in this batch finds it taken
      created.push(registration)
      outcomes.push({ value: { registration, token, created: true } })
    }
    // An expired row goes only if nobody renewed it meanwhile (on another instance); a taken-over one goes live.
    if (retaken.length > 0) await tx.registration.deleteMany({ where: { peerId: { in: retaken }, expiresAt: { lte: now } } })
    if (takenOver.length > 0) await tx.registration.deleteMany({ where: { peerId: { in: takenOver } } })
    if (created.length > 0) await tx.$executeRaw`${insertJsonRows(this.#dialect, 'Registration', REGISTRATION_COLUMNS, created)}`
    await this.#publish(tx, notices)
    return outcomes
  }

  /** The live registration a token belongs to, refreshed (see LiveRegistrations.authenticate). */
  async authenticate (token: string, publicEndpoint: Endpoint | undefined): Promise<RegistrationRow | null> {
    if (!isWellFormedToken(token)) return null
    return await this.#live.authenticate(hashToken(token), publicEndpoint)
  }

  /** The live registration a token belongs to, as it is (see LiveRegistrations.resolve). */
  async resolve (token: string): Promise<RegistrationRow | null> {
    if (!isWellFormedToken(token)) return null
    return await this.#live.resolve(hashToken(token))
  }

  /**
   * Judges the registration's mapping from a probe that arrived from `probe`
   * on the mapping port (see ./mapping.ts). A changed verdict is committed
   * before the answer, and every instance holding the peer takes it at the
   * commit, so introductions made anywhere carry it from then on.
   */
  async observeMapping (registration: RegistrationRow, probe: Endpoint): Promise<RegistrationRow> {
    const record = nextMappingRecord(registration, publicEndpointOf(registration), probe)
    if (record === undefined) return registration
    await this.#recordMapping({ peerId: registration.peerId, tokenHash: registration.tokenHash, ...record })
    this.#live.adoptMapping(registration.peerId, registration.tokenHash, record)
    return { ...registration, ...record }
  }

  /** One statement for the batch; only the same incarnation (token digest) of a registration takes a verdict. */
  async #mappingBatch (tx: Transaction, writes: MappingWrite[]): Promise<Array<Outcome<undefined>>> {
    const d = this.#dialect
    // A row is updated once per statement: of two verdicts for one peer in a batch, the later one.
    const latest = [...new Map(writes.map((write) => [write.peerId, write])).values()]
    const values = latest.map((write) => Prisma.sql`(${text(d, write.peerId)}, ${text(d, write.tokenHash)}, ${text(d, write.mapping)}, ${text(d, write.mappingAddress)}, ${integer(d, write.mappingPort)})`)
    await tx.$executeRaw`
      WITH v("peerId", "tokenHash", "mapping", "mappingAddress", "mappingPort") AS (VALUES ${Prisma.join(values)})
      UPDATE "Registration" SET "mapping" = v."mapping", "mappingAddress" = v."mappingAddress", "mappingPort" = v."mappingPort"
      FROM v
      WHERE "Registration"."peerId" = v."peerId" AND "Registration"."tokenHash" = v."tokenHash"`
    await this.#publish(tx, latest.map(({ peerId, tokenHash, mapping, mappingAddress, mappingPort }) => ({ kind: 'mapping', peerId, tokenHash, record: { mapping, mappingAddress, mappingPort } })))
    return writes.map(() => ({ value: undefined }))
  }

  /**
   * Records `source`, the source of a request from the peer's IPv6 punch port
   * (an IPv6 endpoint: the route checks), as the registration's IPv6 endpoint
   * (see ./ipv6.ts). Committed before the answer, like a mapping verdict, and
   * taken by every instance holding the peer.
   */
  async observeIpv6 (registration: RegistrationRow, source: Endpoint): Promise<RegistrationRow> {
    const record = ipv6RecordOf(source, registration.publicAddress)
    if (sameIpv6Record(record, registration)) return registration
    await this.#recordIpv6({ peerId: registration.peerId, tokenHash: registration.tokenHash, ...record })
    this.#live.adoptIpv6(registration.peerId, registration.tokenHash, record)
    return { ...registration, ...record }
  }

  /** One statement for the batch; only the same incarnation (token digest) of a registration takes it. */
  async #ipv6Batch (tx: Transaction, writes: Ipv6Write[]): Promise<Array<Outcome<undefined>>> {
    const d = this.#dialect
    const latest = [...new Map(writes.map((write) => [write.peerId, write])).values()]
    const values = latest.map((write) => Prisma.sql`(${text(d, write.peerId)}, ${text(d, write.tokenHash)}, ${text(d, write.ipv6Address!)}, ${integer(d, write.ipv6Port!)}, ${text(d, write.ipv6Anchor!)})`)
    await tx.$executeRaw`
      WITH v("peerId", "tokenHash", "ipv6Address", "ipv6Port", "ipv6Anchor") AS (VALUES ${Prisma.join(values)})
      UPDATE "Registration" SET "ipv6Address" = v."ipv6Address", "ipv6Port" = v."ipv6Port", "ipv6Anchor" = v."ipv6Anchor"
      FROM v
      WHERE "Registration"."peerId" = v."peerId" AND "Registration"."tokenHash" = v."tokenHash"`
    await this.#publish(tx, latest.map(({ peerId, tokenHash, ipv6Address, ipv6Port, ipv6Anchor }) => ({ kind: 'ipv6', peerId, tokenHash, record: { ipv6Address, ipv6Port, ipv6Anchor } })))
    return writes.map(() => ({ value: undefined }))
  }

  async update (peerId: string, changes: { privateEndpoints?: Endpoint[] | undefined, ttlSeconds?: number | undefined }): Promise<RegistrationRow> {
    const row = await this.#update({ peerId, ...changes })
    if (row === null) throw new errors.TOKEN_INVALID() // deregistered while this request was under way
    this.#live.remember(row)
    return row
  }

  async #updateBatch (tx: Transaction, writes: UpdateWrite[]): Promise<Array<Outcome<RegistrationRow | null>>> {
    const now = this.#now()
    const outcomes: Array<Outcome<RegistrationRow | null>> = []
    for (const { peerId, privateEndpoints, ttlSeconds } of writes) {
      // The request was just authenticated: the refresh it made here is written with the change.
      const held = this.#live.peer(peerId)
      const ttl = ttlSeconds ?? held?.ttlSeconds
      const data = {
        ...(privateEndpoints !== undefined ? { privateEndpoints: JSON.stringify(privateEndpoints) } : {}),
        ...(ttl !== undefined ? { ttlSeconds: ttl, refreshedAt: now, expiresAt: this.#expiry(now, ttl) } : {}),
        ...(held !== undefined ? { publicAddress: held.publicAddress, publicPort: held.publicPort } : {})
      }
      const { count } = await tx.registration.updateMany({ where: { peerId, expiresAt: { gt: now } }, data })
      outcomes.push({ value: count === 0 ? null : await tx.registration.findUnique({ where: { peerId } }) })
    }
    await this.#publish(tx, writes.map(({ peerId }) => ({ kind: 'registration', peerId })))
    return outcomes
  }

  /**
   * Ends a registration now: its token stops working and its id is free. The
   * row stays, expired, until the introductions it is part of have expired
   * too, so that the other peer can still report how its punch ended.
   */
  async deregister (peerId: string): Promise<void> {
    this.#live.forget(peerId)
    await this.#deregister(peerId)
    this.#live.forget(peerId)
  }

  async #deregisterBatch (tx: Transaction, peerIds: string[]): Promise<Array<Outcome<undefined>>> {
    await tx.registration.updateMany({ where: { peerId: { in: peerIds } }, data: { expiresAt: this.#now() } })
    await this.#publish(tx, peerIds.map((peerId) => ({ kind: 'registration', peerId })))
    return peerIds.map(() => ({ value: undefined }))
  }

  /** The peer's live registration: as held here when it is, else as the database has it. */
  async findLive (peerId: string): Promise<RegistrationRow | null> {
    const now = this.#now()
    const held = this.#live.peer(peerId)
    if (held !== undefined && held.expiresAt > now) return held
    const row = await this.#prisma.registration.findUnique({ where: { peerId } })
    return row !== null && row.expiresAt > now ? row : null
  }

  /** Live registrations as the database has them (refreshes held here are at most one write interval behind). */
  async countLive (): Promise<number> {
    return await this.#prisma.registration.count({ where: { expiresAt: { gt: this.#now() } } })
  }

  /** Deletes expired registrations that no live introduction refers to (their expired ones go by cascade). */
  async sweep (): Promise<number> {
    // Written refreshes first: a peer live only in memory must not look expired to the sweep.
    await this.#live.write()
    const now = this.#now()
    const live = { expiresAt: { gt: now } }
    // A row bound to a key stays, as the id's reservation, until the reservation period is over too.
    const reservationOver = new Date(now.getTime() - this.#reservationMs)
    const { count } = await this.#prisma.registration.deleteMany({
      where: { expiresAt: { lte: now }, OR: [{ publicKey: null }, { expiresAt: { lte: reservationOver } }], initiated: { none: live }, received: { none: live } }
    })
    this.#live.evictExpired()
    return count
  }
}
