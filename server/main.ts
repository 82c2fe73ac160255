// Runs the rendezvous server: builds the app from the resolved settings,
// listens, logs where to reach it, and closes gracefully on SIGINT/SIGTERM.
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import type { ServerConfig } from './settings.js'
import { DOCS_PREFIX } from './plugins/swagger.js'
import { describeLocation } from './db/database.js'

/** Dual-stack '::' fails where IPv6 is disabled; IPv4-only is the next best. */
const WILDCARD_FALLBACK: Record<string, string> = { '::': '0.0.0.0' }

function urlHost (host: string): string {
  if (host === '::' || host === '0.0.0.0') return 'localhost'
  return host.includes(':') ? `[${host}]` : host
}

export async function startServer (config: ServerConfig): Promise<FastifyInstance> {
  const { host: _host, port: _port, logLevel, ...settings } = config
  const app = await buildApp({ ...settings, logger: { level: logLevel } })
  let host = config.host
  try {
    await app.listen({ host, port: config.port })
  } catch (error) {
    const fallback = WILDCARD_FALLBACK[host]
    const code = (error as NodeJS.ErrnoException).code
    if (fallback === undefined || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw error
    host = fallback
    await app.listen({ host, port: config.port })
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `http://${urlHost(host)}:${port}`
  app.log.info({ url, docs: `${url}${DOCS_PREFIX}`, host, port, database: describeLocation(config.databasePath), apiKeys: config.apiKeys.length }, `punchline listening on ${host} port ${port}: API ${url}/v1, Swagger UI ${url}${DOCS_PREFIX}`)
  return app
}

/** Closes the server on the first SIGINT/SIGTERM; a second one exits at once. */
export function closeOnSignals (app: FastifyInstance): void {
  let closing = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) process.exit(1)
    closing = true
    app.log.info({ signal }, 'closing: releasing held polls and finishing in-flight requests')
    app.close().then(() => { process.exit(0) }, (error: unknown) => {
      app.log.error({ err: error }, 'close failed')
      process.exit(1)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}
