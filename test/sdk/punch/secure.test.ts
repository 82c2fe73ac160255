import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import net, { type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { identityOf, peerKeyOf } from '../../../sdk/identity/identity.js'
import { prepareTls, secure } from '../../../sdk/punch/secure.js'
import { HandshakeInterruptedError, PeerKeyMismatchError } from '../../../sdk/errors.js'
import { handles, waitFor } from '../../helpers.js'

const open: Socket[] = []
// Newest first: a TLS socket before the TCP socket under it. Destroying a leader's TCP socket and then the
// TLS socket over it crashes Node 20, 22 and 26 (segmentation fault; measured, not 24.21); the SDK never does.
afterEach(() => { for (const socket of open.splice(0).reverse()) socket.destroy() })

/** A connected TCP pair on loopback: [the dialing end, the accepted end]. */
async function tcpPair (): Promise<[Socket, Socket]> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const dialing = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const [accepted] = await once(server, 'connection') as [Socket]
  await once(dialing, 'connect').catch(() => {})
  server.close()
  open.push(dialing, accepted)
  return [dialing, accepted]
}

describe('secure (TLS 1.3 over a chosen connection)', () => {
  it('prepares an identity by a handshake with itself on loopback, and leaves no socket open', async () => {
    const tcp = (): number => handles('TCPSocketWrap') + handles('TCPServerWrap')
    const before = tcp()
    const accepted: Socket[] = []
    const onAccepted = ({ socket }: { socket: Socket }): void => { accepted.push(socket) }
    subscribe('net.server.socket', onAccepted as (message: unknown) => void)
    try {
      await prepareTls(identityOf())
    } finally {
      unsubscribe('net.server.socket', onAccepted as (message: unknown) => void)
    }
    expect(accepted).toHaveLength(1)
    expect(accepted[0]!.remoteAddress).toBe('127.0.0.1')
    // The TLS socket took it and finished: a socket left waiting for a handshake would stay open for 2 s.
    await waitFor(() => tcp() === before, 1000, 'the handshake\'s sockets and listener closed')
    expect(accepted[0]!.destroyed).toBe(true)
  })

  it('runs many handshakes of one leader at once, each TLS socket with its own peer', async () => {
    const leader = identityOf()
    const followers = Array.from({ length: 8 }, () => identityOf())
    const pairs = await Promise.all(followers.map(async () => await tcpPair()))
    const sessions = await Promise.all(followers.map(async (follower, index) => {
      const [dialing, accepted] = pairs[index]!
      return await Promise.all([
        secure(accepted, { leader: true, identity: leader, peerKey: peerKeyOf(follower.key) }),
        secure(dialing, { leader: false, identity: follower, peerKey: peerKeyOf(leader.key) })
      ])
    }))
    for (const [index, [leaderSide, followerSide]] of sessions.entries()) {
      open.push(leaderSide, followerSide)
      followerSide.write(`from follower ${index}`)
      const [bytes] = await once(leaderSide, 'data') as [Buffer]
      expect(String(bytes)).toBe(`from follower ${index}`)
    }
  })

  it('fails with PeerKeyMismatchError when the peer presents another key than the one it must', async () => {
    const leader = identityOf()
    const follower = identityOf()
    const expected = identityOf()
    const [dialing, accepted] = await tcpPair()
    const [leaderSide, followerSide] = await Promise.allSettled([
      secure(accepted, { leader: true, identity: leader, peerKey: peerKeyOf(expected.key) }),
      secure(dialing, { leader: false, identity: follower, peerKey: peerKeyOf(leader.key) })
    ])
    expect(leaderSide).toMatchObject({ status: 'rejected', reason: expect.any(PeerKeyMismatchError) })
    if (followerSide.status === 'fulfilled') open.push(followerSide.value)
  })

  it('fails with HandshakeInterruptedError when the peer closes before TLS, and the next handshake still works', async () => {
    const leader = identityOf()
    const follower = identityOf()
    const [dialing, accepted] = await tcpPair()
    const handshake = secure(accepted, { leader: true, identity: leader, peerKey: peerKeyOf(follower.key) })
    dialing.destroy()
    await expect(handshake).rejects.toBeInstanceOf(HandshakeInterruptedError)
    const [nextDialing, nextAccepted] = await tcpPair()
    const sides = await Promise.all([
      secure(nextAccepted, { leader: true, identity: leader, peerKey: peerKeyOf(follower.key) }),
      secure(nextDialing, { leader: false, identity: follower, peerKey: peerKeyOf(leader.key) })
    ])
    open.push(...sides)
    expect(sides.map((side) => side.encrypted)).toEqual([true, true])
  })
})
