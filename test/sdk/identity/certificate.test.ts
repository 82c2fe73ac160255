// The self-signed certificate of an identity: what OpenSSL (node:tls) takes,
// for every serial number the random source can give.
import { X509Certificate, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { selfSignedCertificate, serialNumberOf } from '../../../sdk/identity/certificate.js'

describe('the identity\'s certificate', () => {
  it('has a serial number in minimal positive form whatever the random bytes (no "illegal padding")', () => {
    for (const first of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xff]) {
      for (const second of [0x00, 0x7f, 0x80, 0xff]) {
        const serial = new Uint8Array(serialNumberOf(Uint8Array.from([first, second, 1, 2, 3, 4, 5, 6])))
        expect(serial[0]! & 0x80, `first byte ${first}`).toBe(0)
        expect(serial[0], `first byte ${first}`).not.toBe(0)
        expect(serial.slice(1)).toEqual(Uint8Array.from([second, 1, 2, 3, 4, 5, 6]))
      }
    }
  })

  it('parses, 512 times over, with the key it was made for', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    for (let n = 0; n < 512; n++) {
      const certificate = new X509Certificate(selfSignedCertificate(privateKey, publicKey, 'punchline test'))
      expect(certificate.publicKey.equals(publicKey)).toBe(true)
    }
  })
})
