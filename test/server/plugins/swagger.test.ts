import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { DOCUMENT_PATH } from '../../../openapi/document.js'
import { buildTestApp } from '../../helpers.js'

describe('Swagger UI', () => {
  let app: FastifyInstance
  beforeAll(async () => { app = await buildTestApp() })
  afterAll(async () => { await app.close() })

  it('serves the UI page and its assets from the package, with nothing fetched from elsewhere', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/text\/html/)
    const html = page.body
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)
    expect(assets.length).toBeGreaterThan(0)
    for (const asset of assets) {
      expect(asset, 'asset served by this server').not.toMatch(/^(https?:)?\/\//)
      const response = await app.inject({ method: 'GET', url: new URL(asset, 'http://x/docs/').pathname })
      expect(response.statusCode, asset).toBe(200)
    }
  })

  it('serves the same OpenAPI document that is committed', async () => {
    const served = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
    expect(served).toEqual(JSON.parse(readFileSync(DOCUMENT_PATH, 'utf8')))
  })
})
