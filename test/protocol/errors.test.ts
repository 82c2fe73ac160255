import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '@punchline/protocol/errors'

describe('the error table', () => {
  const codes = Object.values(ERRORS).map((spec) => spec.code)

  it('has unique codes, and 429 and 5xx exactly are retryable', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const spec of Object.values(ERRORS)) expect(spec.retryable, spec.code).toBe(spec.status === 429 || spec.status >= 500)
  })

  it('is the README\'s table: every code with its status, and nothing else', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf('### Errors'), readme.indexOf('## Observability'))
    const listed = new Map<string, number>()
    for (const row of section.matchAll(/^\| (\d{3}) \| ([^|]+) \|/gm)) {
      for (const code of row[2]!.matchAll(/`(PUNCH_ERR_[A-Z0-9_]+)`/g)) listed.set(code[1]!, Number(row[1]))
    }
    expect(new Map(Object.values(ERRORS).map((spec) => [spec.code, spec.status]))).toEqual(listed)
  })
})
