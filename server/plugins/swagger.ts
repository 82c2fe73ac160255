// The OpenAPI document, generated from the route schemas, and Swagger UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { PACKAGE } from '../package-root.js'

export const DOCS_PREFIX = '/docs'

export default fp(async function openapi (app) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'punchline rendezvous API',
        version: PACKAGE.version,
        description: 'Peers register (the server records the public endpoint it observes and the private endpoints they report), ' +
          'ask to be introduced to each other, and long-poll for introductions; then they punch a direct TCP connection. ' +
          'Register first, then press "Authorize" and paste the returned token.'
      },
      tags: [
        { name: 'peers', description: 'Registrations' },
        { name: 'introductions', description: 'Introductions, the long-polled inbox, and punch outcome reports' },
        { name: 'relay', description: 'The relay: the two peers of an introduction joined through the server when they cannot punch' },
        { name: 'stats', description: 'Punch success statistics from the peers\' reports (also in Prometheus form at /metrics)' },
        { name: 'health', description: 'Liveness and readiness' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'The token returned by register' },
          apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Deployment API key: needed to register when the server is configured with some' }
        }
      }
    }
  })
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { persistAuthorization: true, displayOperationId: true, tryItOutEnabled: true }
  })
}, { name: 'openapi' })
