import { describe, expect, it } from 'vitest'
import { randomText } from '../../server/random.js'

describe('randomText', () => {
  it('hands out fresh bytes of the asked length, across refills of its pool', () => {
    // 32 KiB in all: the 4 KiB pool is refilled several times, and 12 does not divide it.
    const texts = Array.from({ length: 2000 }, (_, index) => randomText(index % 2 === 0 ? 32 : 12))
    expect(new Set(texts).size).toBe(texts.length)
    for (const [index, text] of texts.entries()) {
      const bytes = Buffer.from(text, 'base64url')
      expect(bytes.length).toBe(index % 2 === 0 ? 32 : 12)
      expect(bytes.some((byte) => byte !== 0)).toBe(true) // a zeroed (spent) part of the pool is never handed out
    }
    // Roughly uniform bits: over 40,000 bytes, each bit position is set about half the time.
    const all = Buffer.concat(texts.map((text) => Buffer.from(text, 'base64url')))
    for (let bit = 0; bit < 8; bit++) {
      const set = all.reduce((count, byte) => count + ((byte >> bit) & 1), 0)
      expect(set / all.length).toBeGreaterThan(0.45)
      expect(set / all.length).toBeLessThan(0.55)
    }
  })

  it('refuses more than its pool holds', () => {
    expect(() => randomText(4097)).toThrow(RangeError)
  })
})
