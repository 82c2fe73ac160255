import { Socket } from 'node:net'
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
