// Schemas of peer identities: Ed25519 public keys, the server's challenges,
// and the proof of possession a registration carries.
import { Type, type Static } from 'typebox'
import { CHALLENGE_TTL_SECONDS, KEY_TEXT_PATTERN, SIGNATURE_TEXT_PATTERN } from '../identity.js'
import { PublicKey, Timestamp } from './common.js'

export const Challenge = Type.String({ pattern: KEY_TEXT_PATTERN, description: 'A fresh random challenge (32 bytes, base64url), good for one registration' })

export const ChallengeResponse = Type.Object({
  challenge: Challenge,
  expiresAt: Type.With(Timestamp, { description: `Good until then (${CHALLENGE_TTL_SECONDS} s), once` })
}, { additionalProperties: false })
export type ChallengeResponse = Static<typeof ChallengeResponse>

export const KeyProof = Type.Object({
  publicKey: PublicKey,
  challenge: Challenge,
  signature: Type.String({
    pattern: SIGNATURE_TEXT_PATTERN,
    description: 'Ed25519 signature (64 bytes, base64url) of the UTF-8 lines "punchline/1 register", the challenge, the id asked for (empty when omitted) and the public key, joined by "\\n"'
  })
}, {
  additionalProperties: false,
  description: 'Proof that the registering peer holds the private key: the id is bound to this key, and stays reserved for it after the registration ends'
})
export type KeyProof = Static<typeof KeyProof>
