// Random strings for tokens, secrets, generated ids and challenges: base64url
// of bytes from node:crypto's CSPRNG, drawn from a pool. One randomBytes()
// call costs ~5 µs on this machine whatever its size up to a few KiB (the
// binding's fixed cost), a tenth of the server's CPU under register load
// (bench/optimizations.md); node:crypto's randomUUID pools the same way.
// Each byte is handed out once and then zeroed in the pool.
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.alloc(POOL_BYTES)
let offset = POOL_BYTES

/** `bytes` fresh random bytes (at most the pool's size), as base64url. */
export function randomText (bytes: number): string {
  if (bytes > POOL_BYTES) throw new RangeError(`randomText: ${bytes} bytes at most ${POOL_BYTES}`)
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const text = pool.toString('base64url', offset, offset + bytes)
  pool.fill(0, offset, offset + bytes)
  offset += bytes
  return text
}
