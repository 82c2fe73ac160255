// The wire protocol two peers speak over every fresh connection before it is
// trusted, and the exchange itself as one straight-line function:
//   HELLO (introduction id, sender id, nonce) both ways;
//   PROOF both ways: HMAC-SHA256 under the introduction's secret over the
//     introduction id, both peer ids and both nonces;
//   the peer with the smaller id (the leader) SELECTs the one connection it
//     keeps, right behind its PROOF when it can; the follower CONFIRMs it once
//     the leader's PROOF checked out. That connection wins on both sides.
// Frames: type (1 byte), length (2 bytes), payload.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import { AuthenticationFailedError, HandshakeInterruptedError } from '../errors.js'

/**
 * HELLO and PROOF both ways must be done within this long of the connection
 * coming up (they take one round trip each). A silent connection is dropped
 * and its candidate dialed again.
 */
export const HANDSHAKE_TIMEOUT_MS = 2000
/** The leader waits this long for CONFIRM after its SELECT before trying another connection. */
export const CONFIRM_TIMEOUT_MS = 3000

export const PROTOCOL_VERSION = 1
export const MAX_FRAME_PAYLOAD = 256
export const NONCE_BYTES = 32
const MAC_BYTES = 32
const HEADER_BYTES = 3
const MAGIC = Buffer.from('PNCH')
const PROOF_LABEL = Buffer.from('punchline/1 proof')

export const FrameType = { HELLO: 1, PROOF: 2, SELECT: 3, CONFIRM: 4 } as const
export type FrameType = typeof FrameType[keyof typeof FrameType]

export interface Frame {
  type: number
  payload: Buffer
}

export interface Hello {
  introductionId: string
  senderId: string
  nonce: Buffer
}

function uuidBytes (uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new AuthenticationFailedError(`not a uuid: ${uuid}`)
  return Buffer.from(hex, 'hex')
}

function uuidString (bytes: Buffer): string {
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function encodeFrame (type: FrameType, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes is over ${MAX_FRAME_PAYLOAD}`)
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt8(type, 0)
  header.writeUInt16BE(payload.length, 1)
  return Buffer.concat([header, payload])
}

export function encodeHello (hello: Hello): Buffer {
  const sender = Buffer.from(hello.senderId, 'utf8')
  return encodeFrame(FrameType.HELLO, Buffer.concat([
    MAGIC, Buffer.from([PROTOCOL_VERSION]), uuidBytes(hello.introductionId), hello.nonce, Buffer.from([sender.length]), sender
  ]))
}

export function decodeHello (frame: Frame): Hello {
  const { payload } = frame
  const fixed = MAGIC.length + 1 + 16 + NONCE_BYTES + 1
  if (frame.type !== FrameType.HELLO) throw new AuthenticationFailedError(`expected HELLO, got frame type ${frame.type}`)
  if (payload.length < fixed || !payload.subarray(0, MAGIC.length).equals(MAGIC)) throw new AuthenticationFailedError('malformed HELLO')
  const version = payload[MAGIC.length]
  if (version !== PROTOCOL_VERSION) throw new AuthenticationFailedError(`unsupported protocol version ${String(version)}`)
  let offset = MAGIC.length + 1
  const introductionId = uuidString(payload.subarray(offset, offset + 16))
  offset += 16
  const nonce = Buffer.from(payload.subarray(offset, offset + NONCE_BYTES))
  offset += NONCE_BYTES
  const senderLength = payload[offset]!
  offset += 1
  if (payload.length !== offset + senderLength || senderLength === 0) throw new AuthenticationFailedError('malformed HELLO sender')
  return { introductionId, nonce, senderId: payload.subarray(offset).toString('utf8') }
}

export function newNonce (): Buffer {
  return randomBytes(NONCE_BYTES)
}

function lengthPrefixed (text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length]), bytes])
}

/** What `senderId` proves to `receiverId`: knowledge of the secret, bound to this introduction and both nonces. */
export function proofOf (secret: Buffer, introductionId: string, senderId: string, receiverId: string, senderNonce: Buffer, receiverNonce: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update(PROOF_LABEL)
    .update(uuidBytes(introductionId))
    .update(lengthPrefixed(senderId))
    .update(lengthPrefixed(receiverId))
    .update(senderNonce)
    .update(receiverNonce)
    .digest()
}

export function proofMatches (expected: Buffer, presented: Buffer): boolean {
  return presented.length === MAC_BYTES && timingSafeEqual(expected, presented)
}

/**
 * Reads frames off a socket during the handshake, with a size bound, and
 * hands the socket back afterwards with any bytes that followed the last
 * frame put back in front, so the application sees its stream whole.
 */
export class FrameReader {
  readonly #socket: Socket
  #buffer: Buffer = Buffer.alloc(0)
  #waiting: { resolve: (frame: Frame) => void, reject: (error: Error) => void } | undefined
  #failure: Error | undefined

  constructor (socket: Socket) {
    this.#socket = socket
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onEnd)
    socket.on('error', this.#onError)
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    if (this.#buffer.length >= HEADER_BYTES && this.#buffer.readUInt16BE(1) > MAX_FRAME_PAYLOAD) {
      this.#fail(new AuthenticationFailedError(`frame of ${this.#buffer.readUInt16BE(1)} bytes is over ${MAX_FRAME_PAYLOAD}`))
      return
    }
    this.#deliver()
  }

  readonly #onEnd = (): void => { this.#fail(new HandshakeInterruptedError('connection closed during the handshake')) }
  readonly #onError = (error: Error): void => { this.#fail(new HandshakeInterruptedError(`connection failed during the handshake: ${error.message}`)) }

  #fail (error: Error): void {
    this.#failure ??= error
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(this.#failure)
  }

  #take (): Frame | undefined {
    if (this.#buffer.length < HEADER_BYTES) return undefined
    const length = this.#buffer.readUInt16BE(1)
    if (this.#buffer.length < HEADER_BYTES + length) return undefined
    const frame = { type: this.#buffer[0]!, payload: Buffer.from(this.#buffer.subarray(HEADER_BYTES, HEADER_BYTES + length)) }
    this.#buffer = this.#buffer.subarray(HEADER_BYTES + length)
    return frame
  }

  #deliver (): void {
    if (this.#waiting === undefined) return
    const frame = this.#take()
    if (frame === undefined) return
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting.resolve(frame)
  }

  /** The next frame; rejects when the connection ends or breaks the protocol. */
  async next (): Promise<Frame> {
    const frame = this.#take()
    if (frame !== undefined) return frame
    if (this.#failure !== undefined) throw this.#failure
    return await new Promise((resolve, reject) => { this.#waiting = { resolve, reject } })
  }

  async expect (type: FrameType): Promise<Frame> {
    const frame = await this.next()
    if (frame.type !== type) throw new AuthenticationFailedError(`expected frame type ${type}, got ${frame.type}`)
    return frame
  }

  /** Stops reading frames; bytes already read past the last frame go back into the socket. */
  release (): Socket {
    const socket = this.#socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('close', this.#onEnd)
    socket.off('error', this.#onError)
    socket.pause()
    if (this.#buffer.length > 0) socket.unshift(this.#buffer)
    this.#buffer = Buffer.alloc(0)
    return socket
  }
}

/** `work`, or a HandshakeInterruptedError saying `what` when it takes longer than `ms`. */
async function within<T> (ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new HandshakeInterruptedError(what)) }, ms) })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/** The leader's choice of one connection among those that authenticate (see Punch). */
export interface Chooser {
  /** At PROOF time: may this connection be offered now, its SELECT riding with the PROOF? */
  claim: () => boolean
  /** After the peer's PROOF checked out: true once this connection is offered, false when another one won. */
  offered: () => Promise<boolean>
}

export interface HandshakeOptions {
  introductionId: string
  selfId: string
  peerId: string
  secret: Buffer
  /** The peer with the smaller id leads: it chooses the connection both keep. */
  leader: boolean
  /** The leader's chooser; the follower takes what the leader SELECTs. */
  chooser: Chooser
  /** The peer's HELLO, already read to route an accepted connection. */
  theirHello?: Hello | undefined
  /** The peer's PROOF checked out: it is our peer at the other end. */
  onAuthenticated: () => void
}

/**
 * Runs the whole exchange over one fresh connection. Resolves true when both
 * sides agreed to keep this connection, false when (leader only) another
 * connection won instead. Rejects with AuthenticationFailedError when someone
 * else is at the other end, HandshakeInterruptedError when the connection
 * closed, broke or stayed silent.
 */
export async function handshake (socket: Socket, reader: FrameReader, options: HandshakeOptions): Promise<boolean> {
  const { introductionId, selfId, peerId, secret, leader, chooser } = options
  const nonce = newNonce()
  let selected = false
  await within(HANDSHAKE_TIMEOUT_MS, 'handshake timed out', (async () => {
    socket.write(encodeHello({ introductionId, senderId: selfId, nonce }))
    const hello = options.theirHello ?? decodeHello(await reader.expect(FrameType.HELLO))
    if (hello.introductionId !== introductionId) throw new AuthenticationFailedError('HELLO names another introduction')
    if (hello.senderId !== peerId) throw new AuthenticationFailedError(`HELLO comes from "${hello.senderId}", not "${peerId}"`)
    socket.write(encodeFrame(FrameType.PROOF, proofOf(secret, introductionId, selfId, peerId, nonce, hello.nonce)))
    // The leader SELECTs its first connection together with its PROOF, half a round trip sooner than
    // after checking the follower's: the follower CONFIRMs only after checking ours, and the leader
    // wins only after checking the follower's PROOF and getting the CONFIRM.
    if (leader && chooser.claim()) {
      socket.write(encodeFrame(FrameType.SELECT))
      selected = true
    }
    const proof = await reader.expect(FrameType.PROOF)
    if (!proofMatches(proofOf(secret, introductionId, peerId, selfId, hello.nonce, nonce), proof.payload)) {
      throw new AuthenticationFailedError('PROOF does not match the introduction\'s secret')
    }
  })())
  options.onAuthenticated()
  if (!leader) {
    // The leader decides; this waits until it SELECTs this connection, or the punch ends it.
    await reader.expect(FrameType.SELECT)
    socket.write(encodeFrame(FrameType.CONFIRM))
    return true
  }
  if (!selected) {
    if (!await chooser.offered()) return false
    socket.write(encodeFrame(FrameType.SELECT))
  }
  await within(CONFIRM_TIMEOUT_MS, 'no CONFIRM for SELECT', reader.expect(FrameType.CONFIRM))
  return true
}
