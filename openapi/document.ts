// Generates the OpenAPI document from the route schemas (@fastify/swagger).
// `npm run openapi` writes it to openapi/openapi.json; a test fails when the
// committed file differs from what the routes say.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../server/app.js'

export const DOCUMENT_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'openapi.json')

export async function generateOpenApiDocument (): Promise<string> {
  // The app opens a database as it boots; a throwaway one is enough to read the routes.
  const dir = mkdtempSync(path.join(tmpdir(), 'punchline-openapi-'))
  const app = await buildApp({ databasePath: path.join(dir, 'openapi.db') })
  try {
    await app.ready()
    return JSON.stringify(app.swagger(), null, 2) + '\n'
  } finally {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
