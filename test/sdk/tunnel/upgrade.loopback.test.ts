// A relayed tunnel upgrading to a direct one, on loopback with the real
// server: the forwarder starts with relay 'only' (its tunnel goes through the
// relay), then its first upgrade try (UPGRADE_DELAYS_MS[0]) punches directly.
// A client streaming across the upgrade loses nothing and is not reset; a
// client after it takes the direct tunnel; the relayed one ends once its
// stream has.
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Exposure, Forwarder, type TraceEvent } from '../../../sdk/index.js'
import { UPGRADE_DELAYS_MS } from '../../../sdk/tunnel/forward.js'
import { RendezvousProcess } from '../../../lab/rendezvous-process.js'
import { waitFor } from '../../helpers.js'

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

/** Sends `chunks` chunks of `size` bytes, one every `everyMs`, half-closes, and reads the echo; both SHA-256s. */
async function streamingClient (port: number, { chunks, size, everyMs }: { chunks: number, size: number, everyMs: number }): Promise<{ sent: string, received: string, bytes: number, error?: string }> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  const sent = createHash('sha256')
  const received: Buffer[] = []
  let error: string | undefined
  socket.on('error', (failure: NodeJS.ErrnoException) => { error = failure.code ?? failure.message })
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  for (let n = 0; n < chunks && error === undefined; n++) {
    const chunk = randomBytes(size)
    sent.update(chunk)
    socket.write(chunk)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  socket.end()
  await once(socket, 'close')
  const all = Buffer.concat(received)
  return { sent: sent.digest('hex'), received: sha256(all), bytes: all.length, ...(error !== undefined ? { error } : {}) }
}

describe('a relayed tunnel upgrading to a direct one (loopback)', () => {
  const closing: Array<{ close: () => Promise<void> }> = []
  let rendezvous: RendezvousProcess | undefined
  let service: Server | undefined
  afterEach(async () => {
    await Promise.all(closing.splice(0).map(async (item) => { await item.close() }))
    service?.close()
    await rendezvous?.destroy()
  })

  it('moves new streams to the direct tunnel and lets the relayed one finish its streams: no byte lost, no reset', async () => {
    rendezvous = await RendezvousProcess.start()
    service = createServer({ allowHalfOpen: true }, (socket) => { socket.on('error', () => {}); socket.pipe(socket) }).listen(0, '127.0.0.1')
    await once(service, 'listening')
    const servicePort = (service.address() as AddressInfo).port
    const common = { server: rendezvous.url, localAddress: '127.0.0.1', privateEndpoints: [] }
    const exposed: TraceEvent[] = []
    const forwarded: TraceEvent[] = []
    const exposure = await Exposure.open({ ...common, id: 'home', service: { host: '127.0.0.1', port: servicePort }, allow: ['laptop'], onTrace: (event) => exposed.push(event) })
    closing.push(exposure)
    const forwarder = await Forwarder.open({ ...common, id: 'laptop', target: 'home', listen: { host: '127.0.0.1', port: 0 }, relay: 'only', onTrace: (event) => forwarded.push(event) })
    closing.push(forwarder)
    const port = forwarder.address.port
    expect(forwarded.find((event) => event.type === 'tunnel-up')).toMatchObject({ side: 'forward', path: 'relay', via: 'relay' })

    // Streams across the upgrade: 32 KiB every 100 ms (well under the relay's 1 MiB/s) until after it.
    const chunks = Math.ceil((UPGRADE_DELAYS_MS[0] + 3000) / 100)
    const across = streamingClient(port, { chunks, size: 32 * 1024, everyMs: 100 })
    await waitFor(() => forwarded.some((event) => event.type === 'tunnel-upgraded'), UPGRADE_DELAYS_MS[0] + 10_000, 'the upgrade')
    const upgraded = forwarded.find((event) => event.type === 'tunnel-upgraded')
    expect(upgraded).toMatchObject({ side: 'forward', peerId: 'home', path: 'public', relayedStreams: 1 })
    await waitFor(() => exposed.some((event) => event.type === 'tunnel-upgraded'), 5000, 'the exposing side to see the upgrade')
    expect(exposed.find((event) => event.type === 'tunnel-upgraded')).toMatchObject({ side: 'expose', peerId: 'laptop', path: 'public', relayedStreams: 1 })

    // A client after the upgrade: over the direct tunnel, while the relayed one still carries the first client.
    const after = await streamingClient(port, { chunks: 8, size: 256 * 1024, everyMs: 0 })
    expect(after).toMatchObject({ bytes: 8 * 256 * 1024 })
    expect(after.received).toBe(after.sent)
    expect(forwarded.filter((event) => event.type === 'tunnel-down')).toHaveLength(0)

    const first = await across
    expect(first.error).toBeUndefined()
    expect(first.bytes).toBe(chunks * 32 * 1024)
    expect(first.received).toBe(first.sent)
    // The relayed tunnel ended after its stream did, and it alone.
    await waitFor(() => forwarded.some((event) => event.type === 'tunnel-down'), 5000, 'the relayed tunnel to end')
    expect(forwarded.filter((event) => event.type === 'tunnel-down')).toEqual([{ type: 'tunnel-down', peerId: 'home', remote: `127.0.0.1:${rendezvous.port}` }])
    expect([...forwarded, ...exposed].filter((event) => event.type === 'stream-refused')).toEqual([])
    expect(forwarded.filter((event) => event.type === 'stream-closed')).toHaveLength(2)
  }, 60_000)
})
