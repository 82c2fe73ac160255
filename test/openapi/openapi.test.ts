// The committed OpenAPI document is generated from the route schemas and must
// match them; every operation is documented well enough to use from Swagger UI.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DOCUMENT_PATH, generateOpenApiDocument } from '../../openapi/document.js'

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const

describe('openapi/openapi.json', () => {
  it('is up to date with the route schemas (run "npm run openapi" if not)', async () => {
    expect(readFileSync(DOCUMENT_PATH, 'utf8')).toBe(await generateOpenApiDocument())
  })

  const document = JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8'))
  const operations = Object.entries(document.paths as Record<string, Record<string, any>>)
    .flatMap(([route, item]) => METHODS.filter((method) => item[method] !== undefined).map((method) => ({ route, method, operation: item[method] })))

  it('declares bearer auth as a security scheme', () => {
    expect(document.openapi).toMatch(/^3\./)
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
  })

  it('lists every API route and none of Swagger UI\'s own', () => {
    expect(operations.map(({ method, route }) => `${method.toUpperCase()} ${route}`).sort()).toEqual([
      'DELETE /v1/peers/{peerId}',
      'GET /health',
      'GET /v1/introductions/{introductionId}',
      'GET /v1/introductions/{introductionId}/relay',
      'GET /v1/peers/{peerId}',
      'GET /v1/peers/{peerId}/inbox',
      'GET /v1/stats/punches',
      'PATCH /v1/peers/{peerId}',
      'POST /v1/challenges',
      'POST /v1/introductions',
      'POST /v1/introductions/{introductionId}/outcome',
      'POST /v1/peers',
      'POST /v1/peers/{peerId}/inbox/ack',
      'POST /v1/peers/{peerId}/ipv6-endpoint',
      'POST /v1/peers/{peerId}/mapping',
      'POST /v1/peers/{peerId}/refresh'
    ])
  })

  it('gives every operation a unique operationId, tags, a summary and schemas for success and errors', () => {
    const ids = new Set<string>()
    for (const { route, method, operation } of operations) {
      const where = `${method.toUpperCase()} ${route}`
      // camelCase; digits belong to names like observeIpv6Endpoint.
      expect(operation.operationId, where).toMatch(/^[a-z][A-Za-z0-9]+$/)
      expect(ids.has(operation.operationId), `${where}: duplicate operationId`).toBe(false)
      ids.add(operation.operationId)
      expect(operation.tags?.length, where).toBeGreaterThan(0)
      expect(operation.summary, where).toEqual(expect.any(String))
      const statuses = Object.keys(operation.responses)
      // The relay's success is the switch to its protocol.
      expect(statuses.some((status) => status.startsWith('2') || status === '101'), `${where}: a 2xx (or 101) response`).toBe(true)
      expect(statuses.some((status) => status.startsWith('4') || status.startsWith('5')), `${where}: an error response`).toBe(true)
      for (const status of statuses.filter((status) => /^[45]/.test(status))) {
        expect(operation.responses[status].content['application/json'].schema.required, `${where} ${status}`).toEqual(expect.arrayContaining(['code', 'message', 'statusCode']))
      }
    }
  })

  it('requires the bearer token exactly where the server does', () => {
    const open = operations.filter(({ operation }) => operation.security === undefined).map(({ method, route }) => `${method.toUpperCase()} ${route}`)
    expect(open).toEqual(['GET /health', 'GET /v1/stats/punches'])
    const register = operations.find(({ operation }) => operation.operationId === 'register')!
    // Token only to renew a live id; API key only where the deployment configures some.
    expect(register.operation.security).toEqual([{}, { bearerAuth: [] }, { apiKeyAuth: [] }, { apiKeyAuth: [], bearerAuth: [] }])
    expect(document.components.securitySchemes.apiKeyAuth).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' })
  })
})
