// Peer identities: Ed25519 key pairs. A peer's public key travels as its raw
// 32 bytes in base64url (43 characters); a registration proves possession of
// the private key by signing a challenge the server issued, and peers prove
// theirs to each other in the punch handshake (the SDK). Both sides build the
// signed messages here, so they cannot drift apart. No schema library.
import { createPublicKey, verify, type KeyObject } from 'node:crypto'

/** base64url of 32 bytes: an Ed25519 public key, or a challenge. */
export const KEY_TEXT_PATTERN = '^[A-Za-z0-9_-]{43}$'
/** base64url of 64 bytes: an Ed25519 signature. */
export const SIGNATURE_TEXT_PATTERN = '^[A-Za-z0-9_-]{86}$'
/** How long a challenge can be used, once. */
export const CHALLENGE_TTL_SECONDS = 60

const REGISTRATION_LABEL = 'punchline/1 register'

/**
 * What a registering peer signs: the challenge, the id it asks for ('' to
 * have one generated) and its public key, each on its own line.
 */
export function registrationMessage (challenge: string, peerId: string | undefined, publicKey: string): Buffer {
  return Buffer.from([REGISTRATION_LABEL, challenge, peerId ?? '', publicKey].join('\n'), 'utf8')
}

/** The public key as it travels: raw 32 bytes, base64url. */
export function publicKeyText (key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' })
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || jwk.x === undefined) throw new TypeError('not an Ed25519 key')
  return jwk.x
}

/** The public key of its text form; throws on anything that is not 43 base64url characters. */
export function publicKeyOf (text: string): KeyObject {
  if (!new RegExp(KEY_TEXT_PATTERN).test(text)) throw new TypeError('not an Ed25519 public key (43 base64url characters)')
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text }, format: 'jwk' })
}

/** Whether `signature` (base64url) is the key's signature of `message`; false for any malformed input. */
export function signatureMatches (publicKey: string, message: Buffer, signature: string): boolean {
  try {
    return verify(null, message, publicKeyOf(publicKey), Buffer.from(signature, 'base64url'))
  } catch {
    return false
  }
}
