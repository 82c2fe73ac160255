// Bounds on connections before any request: per source address (an IPv6
// prefix counting as one address) and in total, and a connection that sends
// nothing is closed after FIRST_BYTE_TIMEOUT_MS. Real sockets on loopback.
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { FIRST_BYTE_TIMEOUT_MS } from '../../server/plugins/connection-limits.js'
import { addressKey } from '../../server/endpoint.js'
import { buildTestApp, listenOnLoopback, waitFor } from '../helpers.js'

let app: FastifyInstance
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await app?.close()
})

async function open (url: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  sockets.push(socket)
  await once(socket, 'connect')
  return socket
}

const closedWithin = async (socket: Socket, ms: number): Promise<boolean> => await Promise.race([
  once(socket, 'close').then(() => true),
  new Promise<boolean>((resolve) => setTimeout(() => { resolve(false) }, ms))
])

describe('connection limits', () => {
  it('keeps one address at its bound and closes the rest at once; other addresses still get in', async () => {
    app = await buildTestApp({ maxConnectionsPerAddress: 5 })
    const url = await listenOnLoopback(app)
    const held = await Promise.all(Array.from({ length: 5 }, async () => await open(url)))
    const over = await Promise.all(Array.from({ length: 3 }, async () => await open(url)))
    for (const socket of over) expect(await closedWithin(socket, 1000)).toBe(true)
    for (const socket of held) expect(socket.destroyed).toBe(false)
    expect(app.connectionsByAddress.get('127.0.0.1')).toBe(5)
    // Another source address is not affected.
    const other = await open(url, '127.0.0.2')
    other.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n')
    const [answer] = await once(other, 'data') as [Buffer]
    expect(String(answer)).toMatch(/^HTTP\/1\.1 200/)
  })

  it(`closes a connection that sends nothing within ${FIRST_BYTE_TIMEOUT_MS} ms, and keeps one that spoke`, async () => {
    app = await buildTestApp()
    const url = await listenOnLoopback(app)
    const silent = await open(url)
    const spoke = await open(url)
    spoke.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n')
    await once(spoke, 'data')
    const started = performance.now()
    expect(await closedWithin(silent, FIRST_BYTE_TIMEOUT_MS + 2000)).toBe(true)
    expect(performance.now() - started).toBeGreaterThan(FIRST_BYTE_TIMEOUT_MS - 1500)
    expect(spoke.destroyed).toBe(false)
    await waitFor(() => app.connectionsByAddress.get('127.0.0.1') === 1, 2000, 'the count to follow')
  }, 15_000)

  it('counts IPv6 addresses by their prefix, and IPv4 ones whole', () => {
    expect(addressKey('2001:db8:aa:bb:1:2:3:4', 64)).toBe('2001:db8:aa:bb::/64')
    expect(addressKey('2001:db8:aa:bb:ffff::', 64)).toBe('2001:db8:aa:bb::/64')
    expect(addressKey('2001:db8:aa:bc::1', 64)).toBe('2001:db8:aa:bc::/64')
    expect(addressKey('2001:db8:aa:bb:1:2:3:4', 48)).toBe('2001:db8:aa::/48')
    expect(addressKey('2001:db8::1', 128)).toBe('2001:db8::1/128')
    expect(addressKey('::ffff:203.0.113.9', 64)).toBe('203.0.113.9')
    expect(addressKey('203.0.113.9', 64)).toBe('203.0.113.9')
  })
})
