// What the SDK hands an application is an ordinary socket: the most common
// pattern, socket.on('data', ...), works on both sides; and a peer that
// completes the handshake and then resets the connection cannot crash a
// program written like the README's examples (no 'error' listener of its own).
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer, type PunchedConnection } from '../../sdk/index.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { waitFor } from '../helpers.js'

const closing: Array<() => Promise<unknown>> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

async function pair (encrypt = true): Promise<{ alice: Peer, bob: Peer }> {
  const rendezvous = await RendezvousProcess.start()
  closing.push(async () => { await rendezvous.destroy() })
  const options = { server: rendezvous.url, localAddress: '127.0.0.1', privateEndpoints: [], encrypt }
  const alice = await Peer.open({ ...options, id: 'alice' })
  const bob = await Peer.open({ ...options, id: 'bob' })
  closing.push(async () => { await Promise.all([alice.close(), bob.close()]) })
  return { alice, bob }
}

describe('sockets handed to the application', () => {
  it('deliver data to a plain \'data\' listener on both sides, including bytes that arrived with the handshake', async () => {
    const { alice, bob } = await pair()
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    outgoing.socket.write('first words') // may arrive before bob's application has its socket
    const [accepted] = await incoming
    expect(accepted.socket.readableFlowing).not.toBe(false) // not paused behind the application's back
    let heard = ''
    accepted.socket.on('data', (chunk: Buffer) => { heard += String(chunk) })
    let answer = ''
    outgoing.socket.on('data', (chunk: Buffer) => { answer += String(chunk) })
    accepted.socket.write('hello alice')
    await waitFor(() => heard === 'first words' && answer === 'hello alice', 5000, 'the bytes on both sides')
    outgoing.socket.destroy()
    accepted.socket.destroy()
  })

  it.each([['a TLS', true], ['a plain', false]])('survive a peer that resets %s connection right after the handshake, with no error listener of the application\'s', async (_kind, encrypt) => {
    const crashes: unknown[] = []
    const onCrash = (error: unknown): void => { crashes.push(error) }
    process.on('uncaughtException', onCrash)
    closing.push(async () => { process.off('uncaughtException', onCrash) })
    const { alice, bob } = await pair(encrypt)
    // bob, as the README writes it: reads and answers, and registers no 'error' listener.
    const closed: boolean[] = []
    bob.on('connection', ({ socket }) => {
      socket.on('data', () => { socket.write('ack') })
      socket.on('close', (hadError) => { closed.push(hadError) })
    })
    for (let round = 0; round < 3; round++) {
      const { socket, encrypted } = await alice.connect('bob')
      expect(encrypted).toBe(encrypt)
      socket.write('boom')
      await once(socket, 'data')
      // An RST: bob's next read fails with ECONNRESET. (Under TLS, the TCP connection is the TLS socket's _parent.)
      const tcp = encrypted ? (socket as Socket & { _parent: Socket })._parent : socket
      tcp.resetAndDestroy()
      await waitFor(() => closed.length === round + 1, 5000, 'bob to see the connection close')
    }
    expect(crashes).toEqual([])
    expect(closed).toEqual([true, true, true]) // closed with an error, not a crash
  })
})
