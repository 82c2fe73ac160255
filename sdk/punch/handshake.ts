// The wire protocol two peers speak over every fresh connection before it is
// trusted, and the exchange itself as one straight-line function:
//   HELLO both ways: a fresh nonce and a tag keyed by the introduction's
//     secret, which tells the secret's holder which introduction this is and
//     tells whoever else answers nothing (no ids on the wire);
//   PROOF both ways: the sender's identity key, and over the introduction
//     id, both peer ids, both nonces, that key and the sender's wish to
//     encrypt, an HMAC-SHA256 under the introduction's secret (it holds this
//     introduction) and an Ed25519 signature with the key (it holds the key
//     the introduction or a pin says the peer has);
//   the peer with the smaller id (the leader) SELECTs the one connection it
//     keeps, right behind its PROOF when it can; the follower CONFIRMs it once
//     the leader's PROOF checked out. That connection wins on both sides.
// Frames: type (1 byte), length (2 bytes), payload. When either side asked
// for encryption, TLS 1.3 follows on the chosen connection (./secure.ts).
import { createHmac, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto'
import type { Socket } from 'node:net'
import { AuthenticationFailedError, HandshakeInterruptedError, PeerKeyMismatchError } from '../errors.js'
import type { Identity, PeerKey } from '../identity/identity.js'

/**
 * HELLO and PROOF both ways must be done within this long of the connection
 * coming up (they take one round trip each). A silent connection is dropped
 * and its candidate dialed again.
 */
export const HANDSHAKE_TIMEOUT_MS = 2000
/** The leader waits this long for CONFIRM after its SELECT before trying another connection. */
export const CONFIRM_TIMEOUT_MS = 3000

export const PROTOCOL_VERSION = 3
export const MAX_FRAME_PAYLOAD = 256
export const NONCE_BYTES = 32
/** Bytes of the HELLO's tag: 128 bits, so a guess at it is hopeless. */
export const TAG_BYTES = 16
const MAC_BYTES = 32
const SIGNATURE_BYTES = 64
const KEY_BYTES = 32
const PROOF_BYTES = KEY_BYTES + MAC_BYTES + SIGNATURE_BYTES + 1
/** The PROOF's last byte: the sender wants the connection encrypted. */
const WANTS_ENCRYPTION = 1
const HEADER_BYTES = 3
const MAGIC = Buffer.from('PNCH')
const HELLO_LABEL = Buffer.from('punchline/2 hello')
const PROOF_LABEL = Buffer.from('punchline/3 proof')
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

/** One side of a handshake, as a PROOF binds it. */
export interface ProofSide {
  id: string
  nonce: Buffer
}

/** What a PROOF covers: this introduction, both sides (sender first), the sender's key (raw) and its wish to encrypt. */
export function proofMessage (introductionId: string, sender: ProofSide, receiver: ProofSide, senderKey: Buffer, flags: number): Buffer {
  return Buffer.concat([
    PROOF_LABEL, uuidBytes(introductionId),
    lengthPrefixed(sender.id), lengthPrefixed(receiver.id),
    sender.nonce, receiver.nonce, senderKey, Buffer.from([flags])
  ])
}

/** The sender's PROOF: its key, the HMAC under the secret and the signature with the key of `message`, and its flags. */
export function proofOf (secret: Buffer, identity: Pick<Identity, 'keyBytes' | 'privateKey'>, message: Buffer): Buffer {
  const flags = message.subarray(-1)
  return Buffer.concat([identity.keyBytes, createHmac('sha256', secret).update(message).digest(), sign(null, message, identity.privateKey), flags])
}

/**
 * Checks a PROOF; returns the sender's flags. A wrong HMAC means the sender
 * does not hold the introduction's secret (someone else answered: a
 * stranger); the right HMAC with another key than `peerKey`, or a signature
 * that does not check out, means it holds the secret but is not the peer it
 * must be (an impostor: a lying server, or a stranger holding the peer's id).
 */
export function checkProof (payload: Buffer, secret: Buffer, peerKey: PeerKey, messageFor: (senderKey: Buffer, flags: number) => Buffer): number {
  if (payload.length !== PROOF_BYTES) throw new AuthenticationFailedError('malformed PROOF')
  const claimed = payload.subarray(0, KEY_BYTES)
  const mac = payload.subarray(KEY_BYTES, KEY_BYTES + MAC_BYTES)
  const signature = payload.subarray(KEY_BYTES + MAC_BYTES, PROOF_BYTES - 1)
  const flags = payload[PROOF_BYTES - 1]!
  const message = messageFor(claimed, flags)
  if (!timingSafeEqual(createHmac('sha256', secret).update(message).digest(), mac)) throw new AuthenticationFailedError('PROOF does not match the introduction\'s secret')
  if (!claimed.equals(peerKey.bytes)) {
    throw new PeerKeyMismatchError(`the peer holds the introduction's secret but has the key ${claimed.toString('base64url')}, not ${peerKey.text}`)
  }
  if (!verify(null, message, peerKey.object, signature)) throw new PeerKeyMismatchError(`the peer did not prove it holds the key ${peerKey.text}`)
  return flags
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
  /** The type the frame being read must have (see expect), checked as soon as its header is in. */
  #expected: FrameType | undefined
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
    // A wrong type fails at once: a stranger's bytes need not fill a plausible length first.
    if (this.#expected !== undefined && this.#header.type !== this.#expected) throw new AuthenticationFailedError(`expected frame type ${this.#expected}, got ${this.#header.type}`)
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

  /** The next frame, which must be of `type`. */
  async expect (type: FrameType): Promise<Frame> {
    this.#expected = type
    try {
      return await this.next()
    } finally {
      this.#expected = undefined
    }
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
  identity: Identity
  /** The key the peer must prove: the introduction's, or the one pinned. */
  peerKey: PeerKey
  /** Whether we ask for TLS on the connection; it is used when either side asks. */
  encrypt: boolean
  /** The peer with the smaller id leads: it chooses the connection both keep. */
  leader: boolean
  /** The leader's chooser; the follower takes what the leader SELECTs. */
  chooser: Chooser
  /** The peer's HELLO, already read to route an accepted connection. */
  theirHello?: Hello | undefined
  /** The peer's PROOF checked out: it is our peer at the other end. */
  onAuthenticated: () => void
  /**
   * HELLO and PROOF both ways within this long, default HANDSHAKE_TIMEOUT_MS.
   * Longer over the relay, where the other side may attach seconds later.
   */
  timeoutMs?: number | undefined
}

export interface HandshakeResult {
  /** Both sides agreed to keep this connection; false when (leader only) another one won instead. */
  kept: boolean
  /** Either side asked for encryption. */
  encrypt: boolean
}

/**
 * Runs the whole exchange over one fresh connection. Rejects with
 * AuthenticationFailedError when someone else is at the other end,
 * PeerKeyMismatchError when it holds the secret but not the key it must
 * (a server handing out secrets cannot impersonate a peer whose key is
 * known), HandshakeInterruptedError when the connection closed, broke or
 * stayed silent.
 */
export async function handshake (socket: Socket, reader: FrameReader, options: HandshakeOptions): Promise<HandshakeResult> {
  const { introductionId, selfId, peerId, secret, leader, chooser, identity, peerKey } = options
  const nonce = newNonce()
  const ourFlags = options.encrypt ? WANTS_ENCRYPTION : 0
  let theirFlags = 0
  let selected = false
  await within(options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS, 'handshake timed out', (async () => {
    socket.write(encodeHello({ nonce, tag: helloTag(secret, nonce) }))
    const hello = options.theirHello ?? decodeHello(await reader.expect(FrameType.HELLO))
    if (!isHelloFor(hello, secret)) throw new AuthenticationFailedError('HELLO is not for this introduction')
    if (hello.nonce.equals(nonce)) throw new AuthenticationFailedError('HELLO is our own, reflected')
    const us = { id: selfId, nonce }
    const them = { id: peerId, nonce: hello.nonce }
    socket.write(encodeFrame(FrameType.PROOF, proofOf(secret, identity, proofMessage(introductionId, us, them, identity.keyBytes, ourFlags))))
    // The leader SELECTs its first connection together with its PROOF, half a round trip sooner than
    // after checking the follower's: the follower CONFIRMs only after checking ours, and the leader
    // wins only after checking the follower's PROOF and getting the CONFIRM.
    if (leader && chooser.claim()) {
      socket.write(encodeFrame(FrameType.SELECT))
      selected = true
    }
    const proof = await reader.expect(FrameType.PROOF)
    theirFlags = checkProof(proof.payload, secret, peerKey, (key, flags) => proofMessage(introductionId, them, us, key, flags))
  })())
  const encrypt = ((ourFlags | theirFlags) & WANTS_ENCRYPTION) !== 0
  options.onAuthenticated()
  if (!leader) {
    // The leader decides; this waits until it SELECTs this connection, or the punch ends it.
    await reader.expect(FrameType.SELECT)
    socket.write(encodeFrame(FrameType.CONFIRM))
    return { kept: true, encrypt }
  }
  if (!selected) {
    if (!await chooser.offered()) return { kept: false, encrypt }
    socket.write(encodeFrame(FrameType.SELECT))
  }
  await within(CONFIRM_TIMEOUT_MS, 'no CONFIRM for SELECT', reader.expect(FrameType.CONFIRM))
  return { kept: true, encrypt }
}
