import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AuthenticationFailedError } from '../../../sdk/errors.js'
import { FrameReader, FrameType, MAX_FRAME_PAYLOAD, TAG_BYTES, decodeHello, encodeFrame, encodeHello, helloFor, isHelloFor, newNonce, proofMatches, proofOf } from '../../../sdk/punch/handshake.js'

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
  const a = newNonce()
  const b = newNonce()
  const proof = proofOf(secret, ID, 'alice', 'bob', a, b)

  it('verifies under the same inputs, in constant time', () => {
    expect(proofMatches(proofOf(secret, ID, 'alice', 'bob', a, b), proof)).toBe(true)
  })

  it('is bound to the secret, the introduction, both ids, their order and both nonces', () => {
    const variants = [
      proofOf(Buffer.alloc(32, 8), ID, 'alice', 'bob', a, b),
      proofOf(secret, OTHER_ID, 'alice', 'bob', a, b),
      proofOf(secret, ID, 'bob', 'alice', a, b), // a reflected proof
      proofOf(secret, ID, 'alice', 'carol', a, b),
      proofOf(secret, ID, 'alice', 'bob', b, a),
      proofOf(secret, ID, 'alice', 'bob', a, newNonce()) // a replay against a fresh challenge
    ]
    for (const variant of variants) expect(proofMatches(variant, proof)).toBe(false)
  })

  it('rejects proofs of the wrong length', () => {
    expect(proofMatches(proof, proof.subarray(0, 16))).toBe(false)
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
})
