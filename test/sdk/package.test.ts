// Consumers import the SDK as "punchline/sdk": plain JavaScript from the
// build, with type declarations beside it.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../server/package-root.js'

describe('punchline/sdk', () => {
  it('resolves through the package exports to the built SDK, without a TypeScript loader', () => {
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', "const sdk = await import('punchline/sdk'); console.log(typeof sdk.Peer.open, new sdk.PunchTimeoutError('x').code)"], { cwd: PACKAGE_ROOT, encoding: 'utf8' })
    expect(output.trim()).toBe('function PUNCH_ERR_PUNCH_TIMEOUT')
  })

  it('ships type declarations', () => {
    expect(existsSync(path.join(PACKAGE_ROOT, 'dist', 'sdk', 'index.d.ts'))).toBe(true)
  })
})
