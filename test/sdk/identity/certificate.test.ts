// The self-signed certificate of a peer's identity key must parse, whatever
// its random serial number: a DER INTEGER may not start with a zero byte
// before one with the high bit clear, and OpenSSL refuses such a certificate
// ("illegal padding"), which failed the TLS handshake of ~1 punch in 128.
import { X509Certificate, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { selfSignedCertificate, serialNumberOf } from '../../../sdk/identity/certificate.js'

describe('the identity certificate', () => {
  it('has a positive serial number with no leading zero byte, for the random bytes that broke it', () => {
    for (const first of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xff]) {
      const serial = new Uint8Array(serialNumberOf(Uint8Array.from([first, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc])))
      expect(serial, `first byte ${first}`).toHaveLength(8)
      expect(serial[0]! & 0x80, `first byte ${first}: positive`).toBe(0)
      expect(serial[0], `first byte ${first}: no padding`).not.toBe(0)
      expect(Array.from(serial.slice(1))).toEqual([0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc])
    }
  })

  it('parses, 512 times over (the old serial failed about 1 in 256)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    for (let n = 0; n < 512; n++) {
      const certificate = new X509Certificate(selfSignedCertificate(privateKey, publicKey, 'alice'))
      expect(certificate.subject).toBe('CN=alice')
      expect(certificate.publicKey.equals(publicKey)).toBe(true)
    }
  })
})
