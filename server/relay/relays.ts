// The relayed connections of this server, by introduction, and their bounds:
// one attach per side and introduction, at most `maxPerPeer` attached sides
// per peer and `maxTotal` relayed connections (waiting or spliced) at once.
// Checking the bounds, switching the protocol and attaching happen in one
// synchronous step, so two attaches cannot both pass a check. What is known
// of an ended relay is kept until its introduction expires: a side cannot
// attach twice, and a late side is told the other left (410) rather than
// left waiting for nobody.
import type { Socket } from 'node:net'
import { errors, retryAfter } from '../errors.js'
import type { Clock } from '../registrations/registrations.js'
import { RelayedConnection, type Direction, type EndReason, type RelayBounds, type Side } from './relayed-connection.js'

/** What the table needs of an introduction (a row of the introductions table). */
export interface RelayIntroduction {
  id: string
  initiatorId: string
  targetId: string
  expiresAt: Date
}

export interface RelaysOptions extends RelayBounds {
  maxPerPeer: number
  maxTotal: number
  now: Clock
}

/** What the table reports as it goes (the metrics plugin listens). */
export interface RelayObserver {
  relayed: (direction: Direction, bytes: number) => void
  ended: (reason: EndReason) => void
}

interface EndedRelay {
  reason: EndReason
  sides: Side[]
  /** When its introduction expires: until then the record answers late or repeated attaches. */
  expiresAt: number
}

const NO_OBSERVER: RelayObserver = { relayed: () => {}, ended: () => {} }

export class Relays {
  readonly #options: RelaysOptions
  readonly #live = new Map<string, RelayedConnection>()
  /** In the order they ended; each expires within an introduction's lifetime of that. */
  readonly #ended = new Map<string, EndedRelay>()
  readonly #perPeer = new Map<string, number>()
  #closing = false
  observer: RelayObserver = NO_OBSERVER

  constructor (options: RelaysOptions) {
    this.#options = options
  }

  /** Relayed connections open right now, by phase. */
  counts (): { waiting: number, spliced: number } {
    let waiting = 0
    for (const relay of this.#live.values()) if (relay.phase === 'waiting') waiting++
    return { waiting, spliced: this.#live.size - waiting }
  }

  /** Bytes held in the buffers of every relayed connection's sockets right now. */
  bufferedBytes (): number {
    let bytes = 0
    for (const relay of this.#live.values()) bytes += relay.bufferedBytes
    return bytes
  }

  /** Attached sides of `peerId` right now. */
  attachedBy (peerId: string): number {
    return this.#perPeer.get(peerId) ?? 0
  }

  /**
   * Attaches one side of a live introduction, or throws the refusal (409,
   * 410, 429, 503) before anything is sent. `switchProtocols` answers 101
   * and hands over the socket, or undefined when the caller has left.
   */
  attach (introduction: RelayIntroduction, side: Side, switchProtocols: () => Socket | undefined): void {
    this.#prune()
    const { id } = introduction
    const peerId = side === 'initiator' ? introduction.initiatorId : introduction.targetId
    if (this.#closing) throw retryAfter(new errors.UNAVAILABLE('the server is shutting down'), 1)
    const ended = this.#ended.get(id)
    let relay = this.#live.get(id)
    if (relay?.attached(side) === true || ended?.sides.includes(side) === true) throw new errors.RELAY_ATTACHED(peerId, id)
    if (ended !== undefined) throw new errors.RELAY_ENDED(id, ended.reason, peerId)
    // Waiting sides pair or leave within the peer wait; open relays of a peer end with its sessions.
    const retryInSeconds = Math.ceil(this.#options.peerWaitMs / 1000)
    if (this.attachedBy(peerId) >= this.#options.maxPerPeer) {
      throw retryAfter(new errors.RELAY_LIMITED(`of peer "${peerId}"`, this.#options.maxPerPeer, retryInSeconds), retryInSeconds)
    }
    if (relay === undefined && this.#live.size >= this.#options.maxTotal) {
      throw retryAfter(new errors.RELAY_LIMITED('on this server', this.#options.maxTotal, retryInSeconds), retryInSeconds)
    }
    const socket = switchProtocols()
    if (socket === undefined) return
    if (relay === undefined) {
      relay = new RelayedConnection(id, { initiator: introduction.initiatorId, target: introduction.targetId }, this.#options, {
        relayed: (direction, bytes) => { this.observer.relayed(direction, bytes) },
        ended: (done, reason) => { this.#onEnded(done, reason, introduction.expiresAt.getTime()) }
      })
      this.#live.set(id, relay)
    }
    this.#perPeer.set(peerId, this.attachedBy(peerId) + 1)
    relay.attach(side, socket)
  }

  #onEnded (relay: RelayedConnection, reason: EndReason, expiresAt: number): void {
    this.#live.delete(relay.introductionId)
    for (const side of relay.sides) {
      const peerId = relay.peers[side]
      const left = this.attachedBy(peerId) - 1
      if (left <= 0) this.#perPeer.delete(peerId)
      else this.#perPeer.set(peerId, left)
    }
    if (expiresAt > this.#options.now().getTime()) this.#ended.set(relay.introductionId, { reason, sides: relay.sides, expiresAt })
    this.observer.ended(reason)
  }

  /** Forgets ended relays whose introductions expired, oldest first. */
  #prune (): void {
    const now = this.#options.now().getTime()
    for (const [id, ended] of this.#ended) {
      if (ended.expiresAt > now) break
      this.#ended.delete(id)
    }
  }

  /** Ends every relayed connection and refuses new ones (the server is closing). */
  close (): void {
    this.#closing = true
    for (const relay of [...this.#live.values()]) relay.end('shutdown')
    this.#ended.clear()
  }
}
