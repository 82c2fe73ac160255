// Encryption of the connection a punch chose: TLS 1.3 (node:tls, OpenSSL)
// over it, each side presenting the self-signed certificate of its identity
// key and checking that the other's is the key the handshake proved. No CA:
// the keys are the trust. The follower is the TLS client: it starts as soon
// as it has CONFIRMed, so its ClientHello travels right behind the CONFIRM.
import { once } from 'node:events'
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net'
import { connect as tlsConnect, createSecureContext, createServer as tlsServer, type SecureContext, type Server, type TLSSocket } from 'node:tls'
import { publicKeyText } from '@punchline/protocol/identity'
import { HandshakeInterruptedError, PeerKeyMismatchError } from '../errors.js'
import { peerKeyOf, type Identity, type PeerKey } from '../identity/identity.js'
import { HANDSHAKE_TIMEOUT_MS } from './handshake.js'

export interface SecureOptions {
  /** The leader is the TLS server, the follower the client. */
  leader: boolean
  identity: Identity
  peerKey: PeerKey
}

/** One connection: the address pair, the same seen from the TCP socket and from the TLS socket over it. */
function pairOf (socket: Socket): string {
  return `${socket.localAddress}:${socket.localPort} ${socket.remoteAddress}:${socket.remotePort}`
}

interface Handshakes {
  /** The follower's side: the identity's context, given to each tls.connect. */
  client: SecureContext
  /** The leader's side: a tls.Server (never listening) that takes each connection as if it had accepted it. */
  server: Server
  /** Leader's handshakes under way, by address pair. */
  pending: Map<string, { resolve: (tls: TLSSocket) => void, reject: (error: Error) => void }>
}

/**
 * Made once per identity: a context per handshake (parsing the key and the
 * certificate) cost more than the handshake itself (measured on loopback:
 * 3.3 ms a handshake with a new context on each side, 1.3 ms with these).
 */
const handshakes = new WeakMap<Identity, Handshakes>()

function handshakesOf (identity: Identity): Handshakes {
  let found = handshakes.get(identity)
  if (found !== undefined) return found
  // A TLSSocket made by hand with isServer works for plain bytes but stalls an HTTP/2 session on top of
  // it (Node 20-26); the server's own path does not.
  const server = tlsServer({ ...identity.tls, requestCert: true, rejectUnauthorized: false })
  const pending: Handshakes['pending'] = new Map()
  server.on('secureConnection', (tls: TLSSocket) => {
    const waiting = pending.get(pairOf(tls))
    if (waiting === undefined) tls.destroy() // its secure() gave up already
    else waiting.resolve(tls)
  })
  server.on('tlsClientError', (error: Error, tls: TLSSocket) => { pending.get(pairOf(tls))?.reject(error) })
  found = { client: createSecureContext(identity.tls), server, pending }
  handshakes.set(identity, found)
  return found
}

/**
 * Makes an identity's TLS objects (~5-10 ms of CPU in a fresh process), then
 * runs one handshake of the identity with itself over loopback: a process's
 * first handshake costs a few ms more on each side (code not yet compiled,
 * OpenSSL's first use of its algorithms). Without this the first punch would
 * pay for both between its winning connection and TLS. Best effort: resolves
 * whatever happens, within HANDSHAKE_TIMEOUT_MS. A stranger on loopback who
 * connects first gets this key's certificate at most.
 */
export async function prepareTls (identity: Identity): Promise<void> {
  handshakesOf(identity)
  const listener = createServer()
  try {
    await new Promise<void>((resolve, reject) => { listener.once('error', reject).listen(0, '127.0.0.1', resolve) })
    const accepted = once(listener, 'connection') as Promise<[Socket]>
    const dialed = netConnect({ port: (listener.address() as AddressInfo).port, host: '127.0.0.1', noDelay: true })
    await once(dialed, 'connect')
    const [socket] = await accepted
    listener.close()
    const own = peerKeyOf(identity.key)
    const sides = await Promise.all([secure(socket, { leader: true, identity, peerKey: own }), secure(dialed, { leader: false, identity, peerKey: own })])
    for (const tls of sides) tls.destroy()
  } catch {
    // No loopback, or someone else's connection: the first punch pays instead.
  } finally {
    listener.close()
  }
}

async function serverSide (socket: Socket, identity: Identity): Promise<TLSSocket> {
  if (socket.remotePort === undefined) throw new Error('connection closed')
  const { server, pending } = handshakesOf(identity)
  const pair = pairOf(socket)
  let closed: (() => void) | undefined
  try {
    return await new Promise<TLSSocket>((resolve, reject) => {
      closed = () => { reject(new Error('connection closed')) }
      socket.once('close', closed)
      pending.set(pair, { resolve, reject })
      server.emit('connection', socket)
    })
  } finally {
    pending.delete(pair)
    if (closed !== undefined) socket.off('close', closed)
  }
}

async function clientSide (socket: Socket, identity: Identity): Promise<TLSSocket> {
  const tls = tlsConnect({ secureContext: handshakesOf(identity).client, socket, rejectUnauthorized: false })
  try {
    await new Promise<void>((resolve, reject) => {
      // 'secureConnect' comes before our last flight (certificate and Finished: what the leader waits for) is sent,
      // and everything our caller does runs before it leaves too. One turn of the loop lets it go first (lab: ~1 ms).
      tls.once('secureConnect', () => { setImmediate(resolve) })
      tls.once('error', reject)
    })
  } finally {
    tls.removeAllListeners('error')
  }
  return tls
}

/** TLS over the socket; resolves once the peer presented its key, rejects (and destroys the socket) otherwise. */
export async function secure (socket: Socket, { leader, identity, peerKey }: SecureOptions): Promise<TLSSocket> {
  let timer: NodeJS.Timeout | undefined
  let tls: TLSSocket
  try {
    tls = await Promise.race([
      leader ? serverSide(socket, identity) : clientSide(socket, identity),
      new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error('timed out')) }, HANDSHAKE_TIMEOUT_MS) })
    ])
  } catch (error) {
    socket.destroy()
    throw new HandshakeInterruptedError(`TLS handshake failed: ${(error as Error).message}`)
  } finally {
    clearTimeout(timer)
  }
  try {
    const presented = tls.getPeerX509Certificate()?.publicKey
    const presentedKey = presented?.asymmetricKeyType === 'ed25519' ? publicKeyText(presented) : undefined
    if (presentedKey !== peerKey.text) throw new PeerKeyMismatchError(`the peer's TLS certificate is not its key ${peerKey.text}`)
  } catch (error) {
    tls.destroy()
    throw error
  }
  return tls
}
