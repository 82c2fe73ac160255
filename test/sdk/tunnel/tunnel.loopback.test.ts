// Port forwarding on loopback with the real server, real reuse-port peers and
// real TCP services: bytes through a forwarded port arrive intact, streams
// are independent, and only allowed peers get through.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Exposure, Forwarder, PunchTimeoutError, type PeerEvent } from '../../../sdk/index.js'
import { RendezvousProcess } from '../../../lab/rendezvous-process.js'
import { waitFor } from '../../helpers.js'

/** A service that answers each connection with the SHA-256 of what it received, then the same bytes back. */
async function digestEchoService (): Promise<{ server: Server, port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const hash = createHash('sha256')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => { hash.update(chunk); chunks.push(chunk) })
    socket.on('end', () => { socket.end(Buffer.concat([Buffer.from(hash.digest('hex') + '\n'), ...chunks])) })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port }
}

/** Sends `payload` to host:port, half-closes, and returns everything received. */
async function exchange (port: number, payload: Buffer): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  socket.end(payload)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

describe('expose and forward on loopback', () => {
  let rendezvous: RendezvousProcess
  let server: string
  let service: { server: Server, port: number }
  const closing: Array<{ close: () => Promise<void> }> = []
  beforeEach(async () => {
    rendezvous = await RendezvousProcess.start()
    server = rendezvous.url
    service = await digestEchoService()
  })
  afterEach(async () => {
    await Promise.all(closing.splice(0).map(async (item) => { await item.close() }))
    service.server.close()
    await rendezvous.destroy()
  })

  // One identity per id, as a host keeps it in its identity file: an id comes back with its key.
  const identities = new Map<string, KeyObject>()
  const identity = (id: string): KeyObject => identities.get(id) ?? identities.set(id, generateKeyPairSync('ed25519').privateKey).get(id)!
  const peerOptions = (id: string): { server: string, id: string, localAddress: string, privateEndpoints: [], identity: KeyObject } =>
    ({ server, id, localAddress: '127.0.0.1', privateEndpoints: [], identity: identity(id) })

  async function exposeService (allow: string[] | '*' = ['laptop']): Promise<Exposure> {
    const exposure = await Exposure.open({ ...peerOptions('home'), service: { host: '127.0.0.1', port: service.port }, allow })
    closing.push(exposure)
    return exposure
  }

  async function forward (id = 'laptop', punchTimeoutMs?: number): Promise<Forwarder> {
    const forwarder = await Forwarder.open({ ...peerOptions(id), target: 'home', listen: { host: '127.0.0.1', port: 0 }, ...(punchTimeoutMs !== undefined ? { punchTimeoutMs } : {}) })
    closing.push(forwarder)
    return forwarder
  }

  it('carries 8 MB each way through a forwarded port with matching checksums, and concurrent clients on one tunnel', async () => {
    const exposure = await exposeService()
    const forwarder = await forward()
    const tunnels: PeerEvent[] = []
    forwarder.on('trace', (event: { type: string }) => { if (event.type === 'tunnel-up') tunnels.push(event as PeerEvent) })

    const big = randomBytes(8 << 20)
    const received = await exchange(forwarder.address.port, big)
    const newline = received.indexOf('\n')
    expect(received.subarray(0, newline).toString()).toBe(sha256(big)) // what the service received
    expect(sha256(received.subarray(newline + 1))).toBe(sha256(big)) // what came back

    const payloads = Array.from({ length: 5 }, (_, n) => randomBytes(100_000 + n))
    const answers = await Promise.all(payloads.map(async (payload) => await exchange(forwarder.address.port, payload)))
    answers.forEach((answer, n) => { expect(answer.subarray(65).equals(payloads[n]!)).toBe(true) })
    expect(tunnels).toHaveLength(0) // all of it rode the tunnel punched at open()
    expect(exposure.peer.id).toBe('home')
  })

  it('declines a peer that is not allowed: no punch, the forwarder fails to open with a timeout', async () => {
    const exposure = await exposeService(['laptop'])
    const declined = once(exposure, 'trace', { signal: AbortSignal.timeout(5000) })
    const seen: Array<{ type: string, peerId?: string }> = []
    exposure.on('trace', (event: { type: string, peerId?: string }) => seen.push(event))
    await expect(forward('mallory', 1500)).rejects.toBeInstanceOf(PunchTimeoutError)
    await declined
    expect(seen).toContainEqual(expect.objectContaining({ type: 'declined', peerId: 'mallory' }))
    expect(seen.map((event) => event.type)).not.toContain('dial')
    expect(seen.map((event) => event.type)).not.toContain('tunnel-up')
  })

  it('resets the client when the exposed service is down, and keeps serving once it is back', async () => {
    await exposeService('*')
    const forwarder = await forward()
    const refused: string[] = []
    forwarder.on('trace', (event: { type: string, reason?: string }) => { if (event.type === 'stream-refused') refused.push(event.reason!) })
    service.server.close()
    await once(service.server, 'close')
    await expect(exchange(forwarder.address.port, Buffer.from('hello'))).rejects.toMatchObject({ code: 'ECONNRESET' })
    expect(refused).toEqual(['the exposing peer answered 502'])

    service.server.listen(service.port, '127.0.0.1')
    await once(service.server, 'listening')
    const answer = await exchange(forwarder.address.port, Buffer.from('hello'))
    expect(answer.subarray(65).toString()).toBe('hello')
  })

  it('punches a new tunnel for the next client after the tunnel went down', async () => {
    const exposure = await exposeService()
    const forwarder = await forward()
    const events: string[] = []
    forwarder.on('trace', (event: { type: string }) => { if (event.type.startsWith('tunnel')) events.push(event.type) })
    // The exposing side drops every tunnel (as a NAT losing the mapping would).
    await exposure.close()
    closing.splice(closing.indexOf(exposure), 1)
    await waitFor(() => events.includes('tunnel-down'), 5000, 'tunnel-down')
    const again = await exposeService()
    const answer = await exchange(forwarder.address.port, Buffer.from('again'))
    expect(answer.subarray(65).toString()).toBe('again')
    expect(events).toEqual(['tunnel-down', 'tunnel-up'])
    expect(again.peer.id).toBe('home')
  })

  it('refuses an empty allow list', async () => {
    await expect(Exposure.open({ ...peerOptions('home'), service: { host: '127.0.0.1', port: service.port }, allow: [] })).rejects.toMatchObject({ code: 'PUNCH_ERR_INVALID_OPTION' })
  })
})
