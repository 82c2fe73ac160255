// Bearer tokens of registrations: 256 random bits, shown to the peer once;
// the server keeps only their SHA-256 digest.
import { createHash, timingSafeEqual } from 'node:crypto'
import { randomText } from '../random.js'

const TOKEN_PREFIX = 'pl_'
const TOKEN_BYTES = 32
const TOKEN_PATTERN = /^pl_[A-Za-z0-9_-]{43}$/

export function newToken (): string {
  return TOKEN_PREFIX + randomText(TOKEN_BYTES)
}

export function isWellFormedToken (token: string): boolean {
  return TOKEN_PATTERN.test(token)
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** Constant-time check of a presented token against a stored digest. */
export function tokenMatches (token: string, storedHash: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex')
  const stored = Buffer.from(storedHash, 'hex')
  return presented.length === stored.length && timingSafeEqual(presented, stored)
}
