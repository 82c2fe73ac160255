// Consumers import "punchline/sdk" and "punchline/server": plain JavaScript
// from the build, with type declarations beside it; the example program runs
// as written; and the SDK's own package (@punchline/sdk) brings nothing of
// the server. (bench/footprint.ts installs the packed SDK to measure it.)
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../server/package-root.js'

const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 20_000 })

describe('the punchline package', () => {
  it('resolves punchline/sdk through the package exports to the built SDK, without a TypeScript loader', () => {
    const output = node(['--input-type=module', '-e', "const sdk = await import('punchline/sdk'); console.log(typeof sdk.Peer.open, typeof sdk.Forwarder.open, typeof sdk.Exposure.open, new sdk.PunchTimeoutError('x').code)"])
    expect(output.trim()).toBe('function function function PUNCH_ERR_PUNCH_TIMEOUT')
  })

  it('resolves punchline/server to the built server', () => {
    const output = node(['--input-type=module', '-e', "const server = await import('punchline/server'); console.log(typeof server.buildApp, typeof server.startServer, server.resolveConfig({ port: '9' }, {}).port, new server.errors.PEER_NOT_FOUND('x').code)"])
    expect(output.trim()).toBe('function function 9 PUNCH_ERR_PEER_NOT_FOUND')
  })

  it('ships type declarations for both', () => {
    for (const file of ['dist/exports/sdk.d.ts', 'dist/server/index.d.ts', 'sdk/dist/index.d.ts', 'protocol/dist/index.d.ts']) {
      expect(existsSync(path.join(PACKAGE_ROOT, file)), file).toBe(true)
    }
  })

  it('runs examples/two-peers.mjs as written: two peers connect through an embedded server and talk', () => {
    const output = node([path.join('examples', 'two-peers.mjs')])
    expect(output).toMatch(/^alice: connected to bob-\d+ via (connect|accept) over the (public|private) path \S+ in \d+ ms\nhello alice-\d+, this is bob\nthanks, bye\n$/)
  })
})

interface LockEntry { dependencies?: Record<string, string>, optionalDependencies?: Record<string, string>, link?: boolean, resolved?: string }

/** Every package a production install of `name` brings, by the lock file (workspaces resolved to their folders). */
function installedWith (name: string): Set<string> {
  const lock = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const entryOf = (dependency: string): LockEntry => {
    const entry = lock.packages[`node_modules/${dependency}`]
    if (entry === undefined) throw new Error(`${dependency} is not in the lock file`)
    return entry.link === true ? lock.packages[entry.resolved!]! : entry
  }
  const seen = new Set<string>()
  const visit = (dependency: string): void => {
    if (seen.has(dependency)) return
    seen.add(dependency)
    for (const next of Object.keys(entryOf(dependency).dependencies ?? {})) visit(next)
  }
  visit(name)
  return seen
}

describe('the SDK package', () => {
  it('depends on the protocol and undici, and on nothing of the server (no Fastify, Prisma, SQLite or swagger)', () => {
    const packages = installedWith('@punchline/sdk')
    expect([...packages].filter((name) => /fastify|prisma|sqlite|swagger|pino|prom-client/.test(name))).toEqual([])
    // The @peculiar packages (and asn1js, pvtsutils, pvutils, tslib under them, ~2 MB) make the X.509 certificates of
    // the identity keys for TLS 1.3 (issue 12): Node can sign, but has no API to build a certificate.
    expect(packages.size).toBeLessThanOrEqual(11)
    expect([...packages].sort()).toEqual(['@peculiar/asn1-schema', '@peculiar/asn1-x509', '@peculiar/utils', '@punchline/protocol', '@punchline/sdk', 'asn1js', 'pvtsutils', 'pvutils', 'tslib', 'typebox', 'undici'])
  })

  it('needs no native addon: node-unix-socket is an optional peer dependency, for Node before 24 on Linux x64 only', () => {
    const sdk = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'sdk', 'package.json'), 'utf8')) as { dependencies: object, peerDependenciesMeta: Record<string, { optional: boolean }> }
    expect(Object.keys(sdk.dependencies)).not.toContain('node-unix-socket-linux-x64-gnu')
    expect(sdk.peerDependenciesMeta['node-unix-socket-linux-x64-gnu']).toEqual({ optional: true })
  })
})
