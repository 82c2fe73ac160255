// Runs the rendezvous server: builds the app from the resolved settings,
// listens (HTTPS when given a certificate), logs where to reach it, reloads
// the certificate on SIGHUP, and closes gracefully on SIGINT/SIGTERM.
import { readFileSync } from 'node:fs'
import type { Server as HttpsServer } from 'node:https'
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

/** The key and certificate chain of the settings, read now (at start, and on every SIGHUP). */
function readTls (config: ServerConfig): { key: Buffer, cert: Buffer } | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined
  return { key: readFileSync(config.tlsKey), cert: readFileSync(config.tlsCert) }
}

/**
 * Listens on the mapping port its setting asks for, on the API's host.
 * `next` is the API port's neighbour (as STUN's alternate port is 3479 beside
 * 3478), any free port beside an ephemeral API port, and it gives way: when
 * that port is taken the server runs without it and says so. A port asked for
 * by number must be had.
 */
async function listenMappingPort (app: FastifyInstance, host: string, config: ServerConfig): Promise<number | undefined> {
  const setting = config.mappingPort
  if (setting === 'off') return undefined
  const port = setting !== 'next' ? setting : config.port === 0 ? 0 : config.port + 1
  const without = (why: string): undefined => {
    app.log.warn({ mappingPort: port }, `no mapping port: ${why}; peers' mappings stay "unknown" (choose one with --mapping-port)`)
    return undefined
  }
  if (port > 65535) return without(`--port ${config.port} has no next port`)
  try {
    return await app.mappingPort.listen(host, port)
  } catch (error) {
    if (setting !== 'next' || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    return without(`port ${port}, the next one after --port, is taken`)
  }
}

export async function startServer (config: ServerConfig): Promise<FastifyInstance> {
  const { host: _host, port: _port, mappingPort: _mappingPort, logLevel, tlsCert: _cert, tlsKey: _key, ...settings } = config
  const https = readTls(config)
  const app = await buildApp({ ...settings, https, logger: { level: logLevel } })
  if (https !== undefined) reloadTlsOnSignal(app, config)
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
  let mappingPort: number | undefined
  try {
    mappingPort = await listenMappingPort(app, host, config)
  } catch (error) {
    await app.close()
    throw error
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `${https !== undefined ? 'https' : 'http'}://${urlHost(host)}:${port}`
  const mapping = mappingPort === undefined ? 'no mapping port' : `mapping port ${mappingPort}`
  app.log.info({ url, docs: `${url}${DOCS_PREFIX}`, host, port, mappingPort: mappingPort ?? null, tls: https !== undefined, database: describeLocation(config.databasePath), apiKeys: config.apiKeys.length }, `punchline listening on ${host} port ${port} (${mapping}): API ${url}/v1, Swagger UI ${url}${DOCS_PREFIX}`)
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

/**
 * On SIGHUP, reads the certificate and key again (a renewed certificate) and
 * gives them to new connections; connections already open, held polls
 * included, keep theirs. A file that cannot be read keeps the old ones.
 */
function reloadTlsOnSignal (app: FastifyInstance, config: ServerConfig): void {
  const onHangUp = (): void => {
    try {
      const tls = readTls(config)!
      ;(app.server as HttpsServer).setSecureContext(tls)
      ;(app.mappingPort.server as HttpsServer).setSecureContext(tls)
      app.log.info({ cert: config.tlsCert }, 'reloaded the TLS certificate')
    } catch (error) {
      app.log.error({ err: error, cert: config.tlsCert }, 'could not reload the TLS certificate; keeping the one in use')
    }
  }
  process.on('SIGHUP', onHangUp)
  app.addHook('onClose', async () => { process.off('SIGHUP', onHangUp) })
}
