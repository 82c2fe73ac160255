// A rendezvous server double for the SDK's fault-injection tests: it hands
// out challenges, registers "bob" with the key his request proved (offering a
// mapping port when given one), and answers polls, introductions,
// registrations and reads of the registration as a test tells it; anything
// else gets 204.
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A request's body as the double read it (registrations carry the key's proof). */
export interface RequestBody { proof?: { publicKey: string } }

/** Answers one request; `count` counts the requests of its kind so far, this one included. */
export type Answer = (response: ServerResponse, count: number, body?: RequestBody) => void

export interface RendezvousDoubleOptions {
  /** Polls of bob's inbox; default: empty, at once. */
  poll?: Answer
  /** POST /v1/introductions; default: 204. */
  introduce?: Answer
  /** POST /v1/peers; default: bob registered with the key he proved. */
  register?: Answer
  /** GET /v1/peers/bob (the registration read again); default: 204. */
  view?: Answer
  /** A mapping port offered with the default registration. */
  mappingProbePort?: number
}

export interface RendezvousDouble {
  url: string
  /** When each poll came (performance.now()). */
  polls: number[]
  close: () => Promise<void>
}

export function json (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}

export const emptyInbox: Answer = (response) => { json(response, 200, { introductions: [], cursor: 0 }) }

/** A 429 with Retry-After and the error table's shape. */
export function rateLimited (response: ServerResponse, retryAfterSeconds: number, code = 'PUNCH_ERR_RATE_LIMITED'): void {
  json(response, 429, { statusCode: 429, code, error: 'Too Many Requests', message: 'not now' }, { 'retry-after': String(retryAfterSeconds) })
}

/** The registration of bob the double answers with: the key `body` proved (or `publicKey`), 90 s to live. */
export function registrationOf (body: RequestBody | undefined, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now()
  return {
    id: 'bob', publicEndpoint: { address: '127.0.0.1', port: 1 }, privateEndpoints: [], publicKey: body?.proof?.publicKey ?? null, mapping: 'unknown',
    ttlSeconds: 90, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 90_000).toISOString(), token: `pl_${'a'.repeat(43)}`, ...extra
  }
}

export async function rendezvousDouble ({ poll = emptyInbox, introduce, register, view, mappingProbePort }: RendezvousDoubleOptions = {}): Promise<RendezvousDouble> {
  const polls: number[] = []
  let registrations = 0
  let introductions = 0
  let views = 0
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    let text = ''
    for await (const chunk of request) text += String(chunk)
    const body = text === '' ? undefined : JSON.parse(text) as RequestBody
    if (request.method === 'POST' && request.url === '/v1/challenges') {
      json(response, 201, { challenge: 'c'.repeat(43), expiresAt: new Date(Date.now() + 60_000).toISOString() })
    } else if (request.method === 'POST' && request.url === '/v1/peers') {
      registrations++
      if (register !== undefined) register(response, registrations, body)
      else json(response, 201, registrationOf(body, { publicEndpoint: { address: '127.0.0.1', port: request.socket.remotePort }, ...(mappingProbePort !== undefined ? { mappingProbe: { port: mappingProbePort } } : {}) }))
    } else if (request.method === 'GET' && request.url === '/v1/peers/bob' && view !== undefined) {
      view(response, ++views)
    } else if (request.url?.startsWith('/v1/peers/bob/inbox') === true) {
      polls.push(performance.now())
      poll(response, polls.length)
    } else if (request.method === 'POST' && request.url === '/v1/introductions' && introduce !== undefined) {
      introduce(response, ++introductions, body)
    } else {
      response.writeHead(204).end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    polls,
    close: async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) }
  }
}
