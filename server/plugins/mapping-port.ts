// The mapping port: a second listening socket of the same app, where peers
// send their mapping probe (POST /v1/peers/{peerId}/mapping) from their punch
// port, so that the server sees the NAT's mapping of that port towards a
// second destination. Requests on it run the app's own handling — every hook,
// so rate limits, authentication and errors apply as on the API port — under
// the same connection bounds; it answers the probe and nothing else, and
// closes each connection after its answer. The app only builds it:
// server/main.ts (or a test) makes it listen.
import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { errors } from '../errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    mappingPort: MappingPort
  }
  interface FastifyContextConfig {
    /** The route is the mapping probe: answered on the mapping port only, and the only route answered there. */
    mappingProbe?: boolean
  }
}

export interface MappingPortOptions {
  https?: { key: Buffer, cert: Buffer } | undefined
  headersTimeoutMs: number
  requestTimeoutMs: number
  connectionsCheckingIntervalMs: number
}

export class MappingPort {
  readonly server: http.Server | https.Server
  readonly #requests = new WeakSet<IncomingMessage>()

  constructor (server: (handler: http.RequestListener) => http.Server | https.Server, route: http.RequestListener) {
    this.server = server((request, response) => {
      this.#requests.add(request)
      route(request, response)
    })
  }

  /** The port it listens on, or undefined when it does not listen. */
  get port (): number | undefined {
    const address = this.server.address()
    return address !== null && typeof address === 'object' ? (address as AddressInfo).port : undefined
  }

  /** Whether a request arrived on the mapping port. */
  received (request: FastifyRequest): boolean {
    return this.#requests.has(request.raw)
  }

  /** Listens on host:port (0: any free port); resolves with the port. */
  async listen (host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return this.port!
  }
}

export default fp<MappingPortOptions>(async function mappingPort (app, options) {
  const settings = {
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    connectionsCheckingInterval: options.connectionsCheckingIntervalMs
  }
  const port = new MappingPort(
    (handler) => options.https !== undefined ? https.createServer({ ...options.https, ...settings }, handler) : http.createServer(settings, handler),
    (request, response) => { app.routing(request, response) }
  )
  app.decorate('mappingPort', port)
  app.limitConnections(port.server)

  app.addHook('onRequest', async (request) => {
    if (port.received(request) && request.routeOptions.config.mappingProbe !== true) {
      throw new errors.ROUTE_NOT_FOUND(request.method, `${request.url} (the mapping port answers POST /v1/peers/{peerId}/mapping only)`)
    }
  })
  // One request per connection: a probe is one request, and nothing else is served here.
  app.addHook('onSend', async (request, reply) => {
    if (port.received(request)) void reply.header('connection', 'close')
  })
  app.addHook('preClose', async () => {
    if (port.port === undefined) return
    port.server.close()
    port.server.closeIdleConnections()
  })
  app.addHook('onClose', async () => { port.server.closeAllConnections() })
}, { name: 'mapping-port', dependencies: ['connection-limits'] })
