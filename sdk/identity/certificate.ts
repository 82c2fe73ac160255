// The X.509 certificate a peer presents in the TLS handshake of its punched
// connections: self-signed, made from its identity key. Nobody checks it
// against a CA; the other side checks that its key is the key it expects
// (../punch/secure.ts). Encoded with the ASN.1 schemas of @peculiar/asn1-x509,
// signed with node:crypto.
import { randomBytes, sign, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Certificate, Name, RelativeDistinguishedName, SubjectPublicKeyInfo, TBSCertificate, Validity, Version
} from '@peculiar/asn1-x509'

const ED25519 = '1.3.101.112'
const COMMON_NAME = '2.5.4.3'
/** Certificates are made at each Peer.open; validity only has to be plausible. */
const VALID_DAYS = 3650

/**
 * A positive serial number of DER's minimal INTEGER form from random bytes:
 * the high bit of the first byte clear (else it would be negative), and the
 * first byte not zero (a leading 0x00 before a byte whose high bit is clear
 * is "illegal padding" to OpenSSL, which then refuses the whole certificate:
 * one certificate in 256, one TLS handshake in 128, before this).
 */
export function serialNumberOf (random: Uint8Array): ArrayBuffer {
  return Uint8Array.from(random, (byte, index) => index === 0 ? 0x40 | (byte & 0x3f) : byte).buffer
}

/** A self-signed certificate (PEM) for the Ed25519 key pair. */
export function selfSignedCertificate (privateKey: KeyObject, publicKey: KeyObject, commonName: string): string {
  const name = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) })])])
  const now = Date.now()
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumberOf(randomBytes(8)),
    signature: new AlgorithmIdentifier({ algorithm: ED25519 }),
    issuer: name,
    validity: new Validity({ notBefore: new Date(now - 3600_000), notAfter: new Date(now + VALID_DAYS * 86_400_000) }),
    subject: name,
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
  })
  const signature = sign(null, Buffer.from(AsnConvert.serialize(tbs)), privateKey)
  const certificate = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ED25519 }), signatureValue: new Uint8Array(signature).buffer })
  const der = Buffer.from(AsnConvert.serialize(certificate))
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`
}
