// The rendezvous server over TLS: `punchline serve --tls-cert --tls-key`, the
// SDK on an https:// URL with a private CA (and the CLI's --ca). The traffic
// between them is captured by a relay in the middle, which finds the bearer
// token and the introduction's secret in a plain-HTTP session and neither in
// a TLS one. SIGHUP gives new connections a renewed certificate while a held
// poll lives on. Certificates come from Debian's openssl command.
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect, type AddressInfo, type Server } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer, type PunchedConnection } from '../../sdk/index.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { tempDir, waitFor } from '../helpers.js'
import { certificates, openssl } from '../certificates.js'
import { exitOf, run } from './run.js'

const closing: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

/** A TCP relay to `port` that keeps every byte it passes, both ways. */
async function recordingRelay (port: number): Promise<{ port: number, bytes: () => Buffer }> {
  const chunks: Buffer[] = []
  const relay: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('data', (chunk: Buffer) => { chunks.push(chunk); to.write(chunk) })
      from.on('error', () => {})
      from.on('close', () => { to.destroy() })
    }
  })
  relay.listen(0, '127.0.0.1')
  await once(relay, 'listening')
  closing.push(() => { relay.close() })
  return { port: (relay.address() as AddressInfo).port, bytes: () => Buffer.concat(chunks) }
}

describe.skipIf(openssl === undefined)('the rendezvous server over TLS', () => {
  it('carries no bearer token and no introduction secret in the clear, where plain HTTP does', async () => {
    const dir = tempDir()
    const { ca, cert, key } = certificates(dir)
    const tokens: string[] = []
    const secrets: string[] = []
    for (const tls of [false, true]) {
      const rendezvous = await RendezvousProcess.start({ flags: tls ? ['--tls-cert', cert, '--tls-key', key] : [] })
      closing.push(async () => { await rendezvous.destroy() })
      const relay = await recordingRelay(rendezvous.port)
      const url = `${tls ? 'https' : 'http'}://127.0.0.1:${relay.port}`
      // relay 'never': this is about the API's bytes (and behind this recording proxy both mappings look dependent).
      const peerOptions = { server: url, localAddress: '127.0.0.1', privateEndpoints: [], punchTimeoutMs: 500, relay: 'never' as const, ...(tls ? { ca: readFileSync(ca) } : {}) }
      const bob = await Peer.open({ ...peerOptions, id: `bob-${String(tls)}` })
      const introduced = new Promise((resolve) => { bob.on('trace', (event) => { if (event.type === 'introduced') resolve(event) }) })
      const alice = await Peer.open({ ...peerOptions, id: `alice-${String(tls)}` })
      closing.push(async () => { await Promise.all([alice.close(), bob.close()]) })
      // Through the relay, the server sees the relay's ports, so the punch itself fails; the introduction, with its
      // secret, has crossed the wire both ways by then (to alice in the answer, to bob in his poll's).
      await expect(alice.connect(bob.id)).rejects.toMatchObject({ code: 'PUNCH_ERR_PUNCH_TIMEOUT' })
      await introduced
      // What an observer must not learn: the introduction's secret (bound into both peers' HELLO tags), the tokens.
      const captured = relay.bytes()
      const plain = captured.toString('latin1')
      tokens.push(...[...plain.matchAll(/Bearer (pl_[A-Za-z0-9_-]{43})/g)].map((match) => match[1]!))
      secrets.push(...[...plain.matchAll(/"secret":"([A-Za-z0-9_-]{43})"/g)].map((match) => match[1]!))
      if (tls) {
        expect(captured.length).toBeGreaterThan(1000) // the session did go through the relay
        expect(plain).not.toMatch(/pl_[A-Za-z0-9_-]{43}/)
        expect(plain).not.toMatch(/"secret"|Authorization|\/v1\//i)
      } else {
        // The control: the same capture of plain HTTP shows both.
        expect(tokens.length).toBeGreaterThan(0)
        expect(secrets.length).toBeGreaterThan(0)
      }
    }
  }, 60_000)

  it('gives new connections a renewed certificate on SIGHUP, while a held poll lives on', async () => {
    const dir = tempDir()
    const first = certificates(dir, 'first')
    const second = certificates(dir, 'second')
    const cert = path.join(dir, 'live.pem')
    const key = path.join(dir, 'live.key')
    writeFileSync(cert, readFileSync(first.cert))
    writeFileSync(key, readFileSync(first.key))
    const rendezvous = await RendezvousProcess.start({ flags: ['--tls-cert', cert, '--tls-key', key] })
    closing.push(async () => { await rendezvous.destroy() })
    const issuer = async (): Promise<string> => {
      const socket = tlsConnect({ host: '127.0.0.1', port: rendezvous.port, rejectUnauthorized: false })
      await once(socket, 'secureConnect')
      const name = String(socket.getPeerCertificate().issuer.CN)
      socket.destroy()
      return name
    }
    expect(await issuer()).toBe('first test CA')
    // A peer holds its poll across the renewal.
    const bob = await Peer.open({ server: `https://127.0.0.1:${rendezvous.port}`, ca: readFileSync(first.ca), id: 'bob', localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 20 })
    closing.push(async () => { await bob.close() })
    // The mapping port speaks TLS with the same certificate.
    await waitFor(() => bob.mapping === 'independent', 5000, 'bob\'s mapping probe over TLS')
    writeFileSync(cert, readFileSync(second.cert))
    writeFileSync(key, readFileSync(second.key))
    process.kill(rendezvous.pid!, 'SIGHUP')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await issuer()).toBe('second test CA')
    // The held poll, on the old certificate's connection, still delivers: an introduction reaches bob.
    const alice = await Peer.open({ server: `https://127.0.0.1:${rendezvous.port}`, ca: readFileSync(second.ca), id: 'alice', localAddress: '127.0.0.1', privateEndpoints: [] })
    closing.push(async () => { await alice.close() })
    // The mapping port took the renewed certificate too: alice trusts only the second CA.
    await waitFor(() => alice.mapping === 'independent', 5000, 'alice\'s mapping probe over TLS, after the renewal')
    const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect('bob')
    ;(await incoming)[0].socket.destroy()
    outgoing.socket.destroy()
  }, 60_000)

  it('lets `punchline peer` trust a private CA with --ca, and refuses a server it cannot verify', async () => {
    const dir = tempDir()
    const { ca, cert, key } = certificates(dir)
    const rendezvous = await RendezvousProcess.start({ flags: ['--tls-cert', cert, '--tls-key', key] })
    closing.push(async () => { await rendezvous.destroy() })
    const server = `https://127.0.0.1:${rendezvous.port}`
    const trusted = await exitOf(run(['peer', '--server', server, '--ca', ca, '--connect', 'nobody', '--private=', '--json'], dir))
    expect(trusted.code).toBe(1)
    expect(trusted.stderr).toContain('PUNCH_ERR_PEER_UNKNOWN') // it got as far as asking for an introduction
    const untrusted = await exitOf(run(['peer', '--server', server, '--connect', 'nobody', '--private=', '--json'], dir))
    expect(untrusted.code).toBe(1)
    expect(untrusted.stderr).toMatch(/"code":"PUNCH_ERR_SERVER_UNTRUSTED".*certificate cannot be verified \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\).*--ca FILE/)
  }, 60_000)
})
