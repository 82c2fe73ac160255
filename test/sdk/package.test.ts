// Consumers import "punchline/sdk" and "punchline/server": plain JavaScript
// from the build, with type declarations beside it; and the example program
// runs as written.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
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
