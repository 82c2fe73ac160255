import { once } from 'node:events'
import { createServer } from 'node:http'
import { Socket, connect, type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { RendezvousClient } from '../../sdk/rendezvous.js'
import { ServerUnreachableError } from '../../sdk/errors.js'
import type { PortSockets } from '../../sdk/socket/port-sockets.js'

describe('RendezvousClient.close', () => {
  it.each(['http', 'https'])('ends a connection to an %s server still coming up, and fails the request waiting for it', async (scheme) => {
    // A dial that never connects: a SYN into a cut path, unanswered.
    const dials: Socket[] = []
    const sockets: PortSockets = {
      listen: async () => { throw new Error('not used') },
      dial: () => { const silent = new Socket(); dials.push(silent); return silent }
    }
    const client = new RendezvousClient({ server: `${scheme}://192.0.2.1:8080`, local: { host: '127.0.0.1', port: 0 }, sockets, keepAliveMs: 0 })
    const poll = client.poll('a', 'token', 0, 25)
    const failed = expect(poll).rejects.toBeInstanceOf(ServerUnreachableError)
    while (dials.length === 0) await new Promise((resolve) => setImmediate(resolve))
    await client.close()
    expect(dials).toHaveLength(1)
    expect(dials[0]?.destroyed).toBe(true)
    await failed
  })
})

describe('RendezvousClient.fastestRoundTripMs', () => {
  it('is the fastest answer to a request, and a long poll\'s wait does not count', async () => {
    // Answers every request with a 404 after a delay: 40 ms, or 300 ms for a poll.
    const server = createServer((request, response) => {
      setTimeout(() => {
        response.writeHead(404, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ statusCode: 404, code: 'PUNCH_ERR_PEER_NOT_FOUND', error: 'Not Found', message: 'no such peer' }))
      }, request.url?.includes('/inbox') === true ? 300 : 40)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const sockets: PortSockets = {
      listen: async () => { throw new Error('not used') },
      dial: (local, remote) => connect({ host: remote.address, port: remote.port })
    }
    const client = new RendezvousClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, local: { host: '127.0.0.1', port: 0 }, sockets, keepAliveMs: 0 })
    try {
      expect(client.fastestRoundTripMs).toBe(Infinity)
      await expect(client.poll('a', 'token', 0, 1)).rejects.toThrow()
      expect(client.fastestRoundTripMs).toBe(Infinity)
      await expect(client.getRegistration('a', 'token')).rejects.toThrow()
      await expect(client.getRegistration('a', 'token')).rejects.toThrow()
      expect(client.fastestRoundTripMs).toBeGreaterThanOrEqual(39)
      expect(client.fastestRoundTripMs).toBeLessThan(300)
    } finally {
      await client.close()
      server.close()
    }
  })
})
