import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthenticationFailedError, PeerKeyMismatchError } from '../../../sdk/errors.js'
import { identityOf, peerKeyOf, type Identity } from '../../../sdk/identity/identity.js'
import { createHmac } from 'node:crypto'
import {
  FrameReader, FrameType, MAX_FRAME_PAYLOAD, TAG_BYTES, checkProof, decodeHello, encodeFrame, encodeHello, helloFor, isHelloFor, newNonce, proofMessage, proofOf
} from '../../../sdk/punch/handshake.js'

const ID = '7b0c1d4e-2f3a-4b5c-8d9e-0f1a2b3c4d5e'
const OTHER_ID = '00000000-2f3a-4b5c-8d9e-0f1a2b3c4d5e'
const secret = Buffer.alloc(32, 7)

describe('HELLO', () => {
  it('round-trips its nonce and tag, and carries no ids: only the secret\'s holder recognises it', () => {
    const hello = helloFor(secret)
    const frame = encodeHello(hello)
    const decoded = decodeHello({ type: frame[0]!, payload: frame.subarray(3) })
    expect(decoded).toEqual(hello)
    expect(decoded.tag).toHaveLength(TAG_BYTES)
    expect(isHelloFor(decoded, secret)).toBe(true)
    expect(isHelloFor(decoded, Buffer.alloc(32, 8))).toBe(false)
    expect(isHelloFor({ ...decoded, nonce: newNonce() }, secret)).toBe(false) // the tag is bound to the nonce
    for (const id of [ID, ID.replace(/-/g, ''), 'alice']) expect(frame.includes(Buffer.from(id))).toBe(false)
    expect(frame.includes(Buffer.from(ID.replace(/-/g, ''), 'hex'))).toBe(false)
  })

  it.each([
    ['another frame type', { type: FrameType.PROOF, payload: Buffer.alloc(60) }],
    ['bad magic', { type: FrameType.HELLO, payload: Buffer.alloc(53) }],
    ['truncated', { type: FrameType.HELLO, payload: Buffer.from('PNCH\u0002') }],
    ['a byte too long', (() => { const f = encodeHello(helloFor(secret)); return { type: f[0]!, payload: Buffer.concat([f.subarray(3), Buffer.from([0])]) } })()],
    ['another protocol version', (() => { const f = encodeHello(helloFor(secret)); f[3 + 4] = 1; return { type: f[0]!, payload: f.subarray(3) } })()]
  ])('rejects %s', (_name, frame) => {
    expect(() => decodeHello(frame)).toThrow(AuthenticationFailedError)
  })
})

describe('PROOF', () => {
  const alice = identityOf()
  const carol = identityOf()
  const a = newNonce()
  const b = newNonce()
  const cover = (introductionId = ID, sender = 'alice', receiver = 'bob', senderNonce = a, receiverNonce = b) =>
    (key: Buffer, flags: number): Buffer => proofMessage(introductionId, { id: sender, nonce: senderNonce }, { id: receiver, nonce: receiverNonce }, key, flags)
  const proofBy = (identity: Identity, key = secret, flags = 1): Buffer => proofOf(key, identity, cover()(identity.keyBytes, flags))
  const proof = proofBy(alice)
  /** Bob checks a PROOF from "alice": the introduction's secret, the key he expects of her, and what it must cover. */
  const check = (payload: Buffer, covered = cover(), expected = peerKeyOf(alice.key)): number => checkProof(payload, secret, expected, covered)

  it('carries the sender\'s key, an HMAC, a signature and its flags, and checks out under the same inputs', () => {
    expect(proof).toHaveLength(129)
    expect(proof.subarray(0, 32)).toEqual(alice.keyBytes)
    expect(check(proof)).toBe(1)
    expect(check(proofBy(alice, secret, 0))).toBe(0)
  })

  it('is bound to the introduction, both ids, their order and both nonces', () => {
    const covers = [
      cover(OTHER_ID),
      cover(ID, 'bob', 'alice'), // a reflected proof
      cover(ID, 'alice', 'carol'),
      cover(ID, 'alice', 'bob', b, a),
      cover(ID, 'alice', 'bob', a, newNonce()) // a replay against a fresh nonce
    ]
    for (const covered of covers) expect(() => check(proof, covered)).toThrow(AuthenticationFailedError)
  })

  it('fails with AuthenticationFailedError without the secret, and PeerKeyMismatchError with the secret but another key', () => {
    expect(() => check(proofBy(alice, Buffer.alloc(32, 8)))).toThrow(AuthenticationFailedError)
    // carol got the introduction's secret (a lying server, or a stranger holding alice's id) but has her own key.
    expect(() => check(proofBy(carol))).toThrow(/holds the introduction's secret but has the key/)
    // carol claims alice's key, but cannot sign with it.
    const claimed = Buffer.concat([alice.keyBytes, proofBy(carol).subarray(32)])
    const forged = Buffer.concat([claimed.subarray(0, 32), createHmac('sha256', secret).update(cover()(alice.keyBytes, 1)).digest(), claimed.subarray(64)])
    expect(() => check(forged)).toThrow(PeerKeyMismatchError)
    expect(() => check(forged)).toThrow(/did not prove it holds the key/)
  })

  it('rejects proofs of the wrong length, and flags that are not the signed ones', () => {
    expect(() => check(proof.subarray(0, 128))).toThrow(/malformed PROOF/)
    const flipped = Buffer.from(proof)
    flipped[128] = 0
    expect(() => check(flipped)).toThrow(AuthenticationFailedError)
  })
})

describe('FrameReader', () => {
  const sockets: net.Socket[] = []
  afterEach(() => { for (const socket of sockets.splice(0)) socket.destroy() })

  async function pair (): Promise<[net.Socket, net.Socket]> {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    const other = await accepted
    server.close()
    sockets.push(client, other)
    return [client, other]
  }

  it('reads frames split across packets and hands back the bytes after the last one', async () => {
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    const bytes = Buffer.concat([encodeFrame(FrameType.SELECT), encodeFrame(FrameType.CONFIRM, Buffer.from('xy')), Buffer.from('application data')])
    for (const byte of bytes) writer.write(Buffer.from([byte]))
    expect(await reader.expect(FrameType.SELECT)).toEqual({ type: FrameType.SELECT, payload: Buffer.alloc(0) })
    expect((await reader.expect(FrameType.CONFIRM)).payload.toString()).toBe('xy')
    await new Promise((resolve) => setTimeout(resolve, 50))
    const released = reader.release()
    writer.end()
    let rest = ''
    for await (const chunk of released) rest += String(chunk)
    expect(rest).toBe('application data')
  })

  it('hands the socket back neither flowing nor paused, like a fresh one: a plain \'data\' listener gets the bytes', async () => {
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    writer.write(Buffer.concat([encodeFrame(FrameType.CONFIRM), Buffer.from('early ')]))
    await reader.expect(FrameType.CONFIRM)
    await new Promise((resolve) => setTimeout(resolve, 50)) // 'early ' waits in the socket meanwhile
    const released = reader.release()
    await new Promise((resolve) => process.nextTick(resolve))
    expect(released.readableFlowing).toBe(null)
    let text = ''
    released.on('data', (chunk: Buffer) => { text += String(chunk) })
    writer.end('and late')
    await new Promise((resolve) => released.once('end', resolve))
    expect(text).toBe('early and late')
  })

  it('rejects an oversized frame as soon as its header arrives', async () => {
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    const header = Buffer.from([FrameType.HELLO, 0, 0])
    header.writeUInt16BE(MAX_FRAME_PAYLOAD + 1, 1)
    writer.write(header)
    await expect(reader.next()).rejects.toThrow(/over 256/)
  })

  it('rejects a frame cut short by the end of the connection', async () => {
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    writer.end(encodeFrame(FrameType.PROOF, Buffer.alloc(32)).subarray(0, 10))
    await expect(reader.next()).rejects.toThrow(/closed (during the handshake|in the middle of a frame)/)
  })

  it('rejects the wrong frame type where another is expected', async () => {
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    writer.write(encodeFrame(FrameType.CONFIRM))
    await expect(reader.expect(FrameType.PROOF)).rejects.toBeInstanceOf(AuthenticationFailedError)
  })

  it('rejects the wrong frame type as soon as its header arrives, without waiting for the length it claims', async () => {
    // Random bytes from a stranger: a header of a plausible length, and never the payload.
    const [writer, socket] = await pair()
    const reader = new FrameReader(socket)
    writer.write(Buffer.from([0xa7, 0, 200, 1, 2, 3]))
    await expect(reader.expect(FrameType.HELLO)).rejects.toThrow(/expected frame type 1, got 167/)
  })
})
