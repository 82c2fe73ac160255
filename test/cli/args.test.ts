// The commands' argument parser: parseArgs, strict, except that an id or a
// key may begin with '-' (one base64url key in 64 does).
import { describe, expect, it } from 'vitest'
import { parseCommandArgs } from '../../cli/args.js'

const OPTIONS = {
  id: { type: 'string' },
  'peer-key': { type: 'string' },
  json: { type: 'boolean' },
  'no-encrypt': { type: 'boolean' }
} as const
const DASH_KEY = '-OUEdMemDfvb9OjoFOvp9oZH3c2yMf3suAHEMkiD2ts'

describe('parseCommandArgs', () => {
  it('takes a value that begins with a dash after an option that needs one', () => {
    expect(parseCommandArgs(['--peer-key', DASH_KEY, '--id', '-a', '--json'], OPTIONS)).toEqual({ 'peer-key': DASH_KEY, id: '-a', json: true })
    expect(parseCommandArgs(['--no-encrypt', '--id', '-', '--peer-key', DASH_KEY], OPTIONS)).toEqual({ 'no-encrypt': true, id: '-', 'peer-key': DASH_KEY })
    // A key that begins with two dashes is no option of the command either.
    expect(parseCommandArgs(['--peer-key', `--${DASH_KEY.slice(2)}`], OPTIONS)).toEqual({ 'peer-key': `--${DASH_KEY.slice(2)}` })
  })

  it('still reports a missing value when the command\'s own option follows', () => {
    for (const next of ['--json', '--no-encrypt', '--id=x', '--']) {
      expect(() => parseCommandArgs(['--peer-key', next, 'x'], OPTIONS), next).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_PARSE_ARGS_/) }))
    }
    expect(() => parseCommandArgs(['--peer-key'], OPTIONS)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' }))
  })

  it('leaves everything else to parseArgs: unknown options, flags before a dash, positionals', () => {
    expect(() => parseCommandArgs(['--json', '-a'], OPTIONS)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }))
    expect(() => parseCommandArgs(['--bogus', '-a'], OPTIONS)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }))
    expect(() => parseCommandArgs(['--', '--id', '-a'], OPTIONS)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' }))
    expect(parseCommandArgs(['--id=-a', '--peer-key=x'], OPTIONS)).toEqual({ id: '-a', 'peer-key': 'x' })
  })
})
