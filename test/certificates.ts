// Certificates for the TLS tests, from Debian's openssl command: a CA and a
// server certificate for 127.0.0.1 signed by it. Where openssl is missing,
// `openssl` is undefined and the TLS tests skip with that reason.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'

export let openssl: string | undefined
try {
  openssl = execFileSync('openssl', ['version'], { encoding: 'utf8' })
} catch {}
if (openssl === undefined) console.warn('TLS tests skipped: they make certificates with openssl (apt-get install openssl)')

/** A CA and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`. */
export function certificates (dir: string, name = 'server'): { ca: string, cert: string, key: string } {
  const file = (suffix: string): string => path.join(dir, `${name}.${suffix}`)
  const ssl = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }) }
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', `/CN=${name} test CA`])
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('key'), '-out', file('csr'), '-subj', '/CN=127.0.0.1'])
  writeFileSync(file('ext'), 'subjectAltName=IP:127.0.0.1\n')
  ssl(['x509', '-req', '-in', file('csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('pem'), '-days', '1', '-extfile', file('ext')])
  return { ca: file('ca.pem'), cert: file('pem'), key: file('key') }
}
