// The punch port under hostile input: random bytes, oversized and truncated
// frames, silence (slowloris), replayed handshakes from an earlier
// introduction or with stale nonces, and a forged HELLO for a live
// introduction. Each is closed within a bounded time, without unhandled
// errors, and without leaking sockets or timers.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Peer, type PeerEvent, type PunchedConnection } from '../../../sdk/index.js'
import { ACCEPT_HELLO_TIMEOUT_MS } from '../../../sdk/accept-router.js'
import { FrameType, encodeFrame, encodeHello, helloFor, helloTag, newNonce, proofMessage, proofOf } from '../../../sdk/punch/handshake.js'
import { RendezvousProcess } from '../../../lab/rendezvous-process.js'
import { bearer, handles, registerWithKeyOverHttp } from '../../helpers.js'

describe('the punch port under hostile input', () => {
  let rendezvous: RendezvousProcess
  let server: string
  let bob: Peer
  const trace: PeerEvent[] = []
  const errors: unknown[] = []
  const onError = (error: unknown): void => { errors.push(error) }

  beforeAll(async () => {
    process.on('unhandledRejection', onError)
    process.on('uncaughtException', onError)
    rendezvous = await RendezvousProcess.start()
    server = rendezvous.url
    bob = await Peer.open({ server, id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], punchTimeoutMs: 3000 })
    bob.on('trace', (event: PeerEvent) => trace.push(event))
  })
  afterAll(async () => {
    await bob.close()
    await rendezvous.destroy()
    process.off('unhandledRejection', onError)
    process.off('uncaughtException', onError)
    expect(errors).toEqual([])
  })

  /** Connects to bob's punch port, sends `bytes`, and resolves with how long bob took to close the connection. */
  async function closedAfter (bytes: Buffer | undefined): Promise<number> {
    const socket = net.connect(bob.localPort, '127.0.0.1')
    socket.on('error', () => {})
    socket.resume()
    await once(socket, 'connect')
    const started = performance.now()
    if (bytes !== undefined) socket.write(bytes)
    await once(socket, 'close')
    return performance.now() - started
  }

  /** A live introduction to bob from "carol", who is only an HTTP client: bob punches toward nothing meanwhile. */
  async function liveIntroduction (): Promise<{ id: string, secret: string, carol: Awaited<ReturnType<typeof registerWithKeyOverHttp>> }> {
    const carol = await registerWithKeyOverHttp(server, { id: `carol-${randomBytes(3).toString('hex')}`, privateEndpoints: [] })
    const response = await fetch(`${server}/v1/introductions`, { method: 'POST', headers: { ...bearer(carol), 'content-type': 'application/json' }, body: '{"target":"bob"}' })
    const introduction = await response.json() as { id: string, secret: string }
    const deadline = Date.now() + 5000
    while (!trace.some((event) => event.type === 'introduced' && event.introductionId === introduction.id)) {
      if (Date.now() > deadline) throw new Error('bob never received the introduction')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return { ...introduction, carol }
  }

  const bound = ACCEPT_HELLO_TIMEOUT_MS + 500

  it('closes at once on random bytes and on an oversized frame', async () => {
    expect(await closedAfter(randomBytes(64))).toBeLessThan(500)
    const oversized = Buffer.from([FrameType.HELLO, 0xff, 0xff])
    expect(await closedAfter(oversized)).toBeLessThan(500)
  })

  it('closes a silent connection (slowloris) and a truncated HELLO within the accept timeout', async () => {
    const silent = await closedAfter(undefined)
    expect(silent).toBeGreaterThan(ACCEPT_HELLO_TIMEOUT_MS - 100)
    expect(silent).toBeLessThan(bound)
    const hello = encodeHello(helloFor(randomBytes(32)))
    expect(await closedAfter(hello.subarray(0, hello.length - 5))).toBeLessThan(bound)
  })

  it('drops a HELLO replayed from an earlier, finished introduction within the accept timeout', async () => {
    const { id, secret } = await liveIntroduction()
    // Once bob's punch for that introduction has ended, a HELLO made with its secret is for nothing pending.
    const deadline = Date.now() + 6000
    while (!trace.some((event) => event.type === 'failed' && event.introductionId === id) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    const replay = encodeHello(helloFor(Buffer.from(secret, 'base64url')))
    expect(await closedAfter(replay)).toBeLessThan(bound)
  }, 20_000)

  it('rejects, for a live introduction, a forged HELLO without the secret and a PROOF replayed over stale nonces', async () => {
    const { id, secret, carol } = await liveIntroduction()
    // Without the secret there is no tag bob recognises: the connection is routed nowhere and closed.
    const forged = Buffer.concat([encodeHello({ nonce: newNonce(), tag: randomBytes(16) }), encodeFrame(FrameType.PROOF, randomBytes(32))])
    expect(await closedAfter(forged)).toBeLessThan(bound)
    // A PROOF made with the real secret and carol's key, but over nonces of an earlier connection: bob's nonce is new each time.
    const key = Buffer.from(secret, 'base64url')
    const staleNonce = newNonce()
    const carolKey = Buffer.from(carol.publicKey, 'base64url')
    const covered = proofMessage(id, { id: carol.id, nonce: staleNonce }, { id: 'bob', nonce: newNonce() }, carolKey, 1)
    const replayed = Buffer.concat([
      encodeHello({ nonce: staleNonce, tag: helloTag(key, staleNonce) }),
      encodeFrame(FrameType.PROOF, proofOf(key, { keyBytes: carolKey, privateKey: carol.privateKey }, covered))
    ])
    expect(await closedAfter(replayed)).toBeLessThan(500)
    const reasons = trace.filter((event) => event.type === 'rejected' && event.introductionId === id).map((event) => (event as { reason: string }).reason)
    expect(reasons).toEqual(['PROOF does not match the introduction\'s secret'])
  })

  it('still connects the real peer afterwards, and leaks no sockets or timers', async () => {
    const alice = await Peer.open({ server, id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    const [accepted] = await incoming
    expect(accepted.introductionId).toBe(outgoing.introductionId)
    outgoing.socket.destroy()
    accepted.socket.destroy()
    await alice.close()
    // Bob's punches toward the fake carols must be over, or their retry timers come and go while we count.
    const ended = (id: string): boolean => trace.some((event) => (event.type === 'failed' || event.type === 'connected') && event.introductionId === id)
    const introduced = trace.filter((event) => event.type === 'introduced').map((event) => (event as { introductionId: string }).introductionId)
    const deadline = Date.now() + 6000
    while (!introduced.every(ended) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(introduced.every(ended)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // What remains: bob's listener, bob's connection to the server, and the test server's side of it.
    const before = { tcp: handles('TCPSocketWrap'), timers: handles('Timeout') }
    for (let round = 0; round < 20; round++) await closedAfter(randomBytes(16))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
  })
})
