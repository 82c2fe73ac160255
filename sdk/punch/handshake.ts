// The wire protocol two peers speak over every fresh connection before it is
// trusted, and the exchange itself as one straight-line function:
//   HELLO both ways: a fresh nonce and a tag keyed by the introduction's
//     secret, which tells the secret's holder which introduction this is and
//     tells whoever else answers nothing (no ids on the wire);
//   PROOF both ways: HMAC-SHA256 under the secret over the introduction id,
//     both peer ids and both nonces;
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

export const PROTOCOL_VERSION = 2
export const MAX_FRAME_PAYLOAD = 256
export const NONCE_BYTES = 32
/** Bytes of the HELLO's tag: 128 bits, so a guess at it is hopeless. */
export const TAG_BYTES = 16
const MAC_BYTES = 32
const HEADER_BYTES = 3
const MAGIC = Buffer.from('PNCH')
const HELLO_LABEL = Buffer.from('punchline/2 hello')
const PROOF_LABEL = Buffer.from('punchline/1 proof')
const HELLO_BYTES = MAGIC.length + 1 + NONCE_BYTES + TAG_BYTES

export const FrameType = { HELLO: 1, PROOF: 2, SELECT: 3, CONFIRM: 4 } as const
export type FrameType = typeof FrameType[keyof typeof FrameType]

export interface Frame {
  type: number
  payload: Buffer
}

export interface Hello {
  nonce: Buffer
  /** HMAC(secret, label ‖ nonce), truncated: only who holds the introduction's secret can make or recognise it. */
  tag: Buffer
}

function uuidBytes (uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new AuthenticationFailedError(`not a uuid: ${uuid}`)
  return Buffer.from(hex, 'hex')
}

export function encodeFrame (type: FrameType, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes is over ${MAX_FRAME_PAYLOAD}`)
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt8(type, 0)
  header.writeUInt16BE(payload.length, 1)
  return Buffer.concat([header, payload])
}

export function encodeHello (hello: Hello): Buffer {
  return encodeFrame(FrameType.HELLO, Buffer.concat([MAGIC, Buffer.from([PROTOCOL_VERSION]), hello.nonce, hello.tag]))
}

export function decodeHello (frame: Frame): Hello {
  const { payload } = frame
  if (frame.type !== FrameType.HELLO) throw new AuthenticationFailedError(`expected HELLO, got frame type ${frame.type}`)
  if (payload.length < MAGIC.length + 1 || !payload.subarray(0, MAGIC.length).equals(MAGIC)) throw new AuthenticationFailedError('malformed HELLO')
  const version = payload[MAGIC.length]
  if (version !== PROTOCOL_VERSION) throw new AuthenticationFailedError(`unsupported protocol version ${String(version)}`)
  if (payload.length !== HELLO_BYTES) throw new AuthenticationFailedError('malformed HELLO')
  const nonce = Buffer.from(payload.subarray(MAGIC.length + 1, MAGIC.length + 1 + NONCE_BYTES))
  return { nonce, tag: Buffer.from(payload.subarray(MAGIC.length + 1 + NONCE_BYTES)) }
}

/** The tag of a HELLO with `nonce` under an introduction's secret. */
export function helloTag (secret: Buffer, nonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(HELLO_LABEL).update(nonce).digest().subarray(0, TAG_BYTES)
}

/** A fresh HELLO for an introduction. */
export function helloFor (secret: Buffer): Hello {
  const nonce = newNonce()
  return { nonce, tag: helloTag(secret, nonce) }
}

/** Whether a HELLO was made with this secret (in constant time). */
export function isHelloFor (hello: Hello, secret: Buffer): boolean {
  return hello.tag.length === TAG_BYTES && timingSafeEqual(helloTag(secret, hello.nonce), hello.tag)
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
 * Reads frames off a socket during the handshake, with a size bound, taking
 * out of the socket exactly the bytes of the frames asked for (paused-mode
 * reads). What follows the last frame stays in the socket, and release()
 * hands the socket back as a fresh one: neither flowing nor paused, so
 * 'data' listeners, pipe() and for-await all work as on any net.Socket.
 */
export class FrameReader {
  readonly #socket: Socket
  #header: { type: number, length: number } | undefined
  #waiting: { resolve: (frame: Frame) => void, reject: (error: Error) => void } | undefined
  #failure: Error | undefined

  constructor (socket: Socket) {
    this.#socket = socket
    socket.on('readable', this.#deliver)
    socket.on('end', this.#onEnd)
    socket.on('close', this.#onEnd)
    socket.on('error', this.#onError)
  }

  readonly #onEnd = (): void => { this.#fail(new HandshakeInterruptedError('connection closed during the handshake')) }
  readonly #onError = (error: Error): void => { this.#fail(new HandshakeInterruptedError(`connection failed during the handshake: ${error.message}`)) }

  #fail (error: Error): void {
    this.#failure ??= error
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(this.#failure)
  }

  /** `length` bytes out of the socket, or undefined while they have not all arrived. */
  #read (length: number): Buffer | undefined {
    if (length === 0) return Buffer.alloc(0)
    const bytes = this.#socket.read(length) as Buffer | null
    if (bytes === null) return undefined
    // At the end of the stream read() hands out what is left, however short.
    if (bytes.length < length) throw new HandshakeInterruptedError('connection closed in the middle of a frame')
    return bytes
  }

  /** The next whole frame, or undefined while it has not fully arrived. */
  #take (): Frame | undefined {
    if (this.#header === undefined) {
      const header = this.#read(HEADER_BYTES)
      if (header === undefined) return undefined
      const length = header.readUInt16BE(1)
      if (length > MAX_FRAME_PAYLOAD) throw new AuthenticationFailedError(`frame of ${length} bytes is over ${MAX_FRAME_PAYLOAD}`)
      this.#header = { type: header[0]!, length }
    }
    const payload = this.#read(this.#header.length)
    if (payload === undefined) return undefined
    const frame = { type: this.#header.type, payload }
    this.#header = undefined
    return frame
  }

  readonly #deliver = (): void => {
    if (this.#waiting === undefined) return
    let frame: Frame | undefined
    try {
      frame = this.#take()
    } catch (error) {
      this.#fail(error as Error)
      return
    }
    if (frame === undefined) return
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting.resolve(frame)
  }

  /** The next frame; rejects when the connection ends or breaks the protocol. */
  async next (): Promise<Frame> {
    if (this.#failure !== undefined) throw this.#failure
    const frame = this.#take()
    if (frame !== undefined) return frame
    return await new Promise((resolve, reject) => { this.#waiting = { resolve, reject } })
  }

  async expect (type: FrameType): Promise<Frame> {
    const frame = await this.next()
    if (frame.type !== type) throw new AuthenticationFailedError(`expected frame type ${type}, got ${frame.type}`)
    return frame
  }

  /** Stops reading frames and hands the socket back, the bytes after the last frame still in it. */
  release (): Socket {
    const socket = this.#socket
    socket.off('readable', this.#deliver)
    socket.off('end', this.#onEnd)
    socket.off('close', this.#onEnd)
    socket.off('error', this.#onError)
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
    socket.write(encodeHello({ nonce, tag: helloTag(secret, nonce) }))
    const hello = options.theirHello ?? decodeHello(await reader.expect(FrameType.HELLO))
    if (!isHelloFor(hello, secret)) throw new AuthenticationFailedError('HELLO is not for this introduction')
    if (hello.nonce.equals(nonce)) throw new AuthenticationFailedError('HELLO is our own, reflected')
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
