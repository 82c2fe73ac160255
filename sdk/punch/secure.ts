// Encryption of the connection a punch chose: TLS 1.3 (node:tls, OpenSSL)
// over it, each side presenting the self-signed certificate of its identity
// key and checking that the other's is the key the handshake proved. No CA:
// the keys are the trust. The follower is the TLS client: it starts as soon
// as it has CONFIRMed, so its ClientHello travels right behind the CONFIRM.
import type { Socket } from 'node:net'
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from 'node:tls'
import { publicKeyText } from '@punchline/protocol/identity'
import { HandshakeInterruptedError, PeerKeyMismatchError } from '../errors.js'
import type { Identity, PeerKey } from '../identity/identity.js'
import { HANDSHAKE_TIMEOUT_MS } from './handshake.js'

export interface SecureOptions {
  /** The leader is the TLS server, the follower the client. */
  leader: boolean
  identity: Identity
  peerKey: PeerKey
}

/**
 * The TLS socket of the leader's side: a tls.Server (never listening) takes
 * the connection as if it had accepted it. A TLSSocket made by hand with
 * isServer works for plain bytes but stalls an HTTP/2 session on top of it
 * (Node 20-26); the server's own path does not.
 */
async function serverSide (socket: Socket, identity: Identity): Promise<TLSSocket> {
  const server = tlsServer({ ...identity.tls, requestCert: true, rejectUnauthorized: false })
  try {
    return await new Promise<TLSSocket>((resolve, reject) => {
      server.once('secureConnection', resolve)
      server.once('tlsClientError', reject)
      server.emit('connection', socket)
    })
  } finally {
    server.removeAllListeners()
  }
}

async function clientSide (socket: Socket, identity: Identity): Promise<TLSSocket> {
  const tls = tlsConnect({ ...identity.tls, socket, rejectUnauthorized: false })
  try {
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve)
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
