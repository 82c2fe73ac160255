// A peer's identity: an Ed25519 key pair. The server binds the peer's id to
// its public key at registration; every punched connection proves it (the
// handshake signs with it, and the TLS certificate is made from it). Given as
// a private key (KeyObject or PEM), read from a key file, or generated.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { publicKeyOf, publicKeyText } from '@punchline/protocol/identity'
import { InvalidOptionError } from '../errors.js'
import { selfSignedCertificate } from './certificate.js'

/** A private key: a KeyObject, or PEM (PKCS #8, "BEGIN PRIVATE KEY"). */
export type IdentityKey = KeyObject | string | Buffer

export interface Identity {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** The public key as it travels: raw 32 bytes, base64url. */
  readonly key: string
  /** The public key's raw 32 bytes. */
  readonly keyBytes: Buffer
  /** Self-signed, for the TLS of punched connections (PEM). */
  readonly certificate: string
  /** TLS 1.3 with the key and the certificate (PEM), for both ends of a punched connection. */
  readonly tls: { key: string, cert: string, minVersion: 'TLSv1.3' }
}

function asPrivateKey (key: IdentityKey): KeyObject {
  if (typeof key === 'string' || Buffer.isBuffer(key)) {
    try {
      return createPrivateKey(key)
    } catch (error) {
      throw new InvalidOptionError(`identity is not a private key in PEM: ${(error as Error).message}`)
    }
  }
  if (key.type !== 'private') throw new InvalidOptionError(`identity must be a private key, got a ${key.type} key`)
  return key
}

/** The identity of a private key, or a new one. */
export function identityOf (key?: IdentityKey): Identity {
  const privateKey = key === undefined ? generateKeyPairSync('ed25519').privateKey : asPrivateKey(key)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InvalidOptionError(`identity must be an Ed25519 key, got ${privateKey.asymmetricKeyType ?? 'an unknown type'}`)
  const publicKey = createPublicKey(privateKey)
  const text = publicKeyText(publicKey)
  const certificate = selfSignedCertificate(privateKey, publicKey, `punchline ${text}`)
  const tls = { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: certificate, minVersion: 'TLSv1.3' as const }
  return { privateKey, publicKey, key: text, keyBytes: Buffer.from(text, 'base64url'), certificate, tls }
}

/** The key another peer must prove, in the forms the handshake and TLS need. */
export interface PeerKey {
  readonly text: string
  readonly bytes: Buffer
  readonly object: KeyObject
}

/** A peer's key from its text form; InvalidOptionError names `what` when it is not one. */
export function peerKeyOf (text: string, what = 'a peer key'): PeerKey {
  try {
    return { text, bytes: Buffer.from(text, 'base64url'), object: publicKeyOf(text) }
  } catch {
    throw new InvalidOptionError(`${what} must be an Ed25519 public key (43 base64url characters), got "${text}"`)
  }
}
