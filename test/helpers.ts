// Shared test fixtures: a fresh SQLite file per app, the app built on it, and
// small clients for the API over app.inject or real HTTP on loopback.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll } from 'vitest'
import { buildApp, type AppOptions } from '../server/app.js'
import { publicKeyText, registrationMessage } from '@punchline/protocol'

const dirs: string[] = []
afterAll(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })

/** A new, empty folder for this test file's databases; removed after the file. */
export function tempDir (): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'punchline-test-'))
  dirs.push(dir)
  return dir
}

export function tempDatabasePath (): string {
  return path.join(tempDir(), 'punchline.db')
}

/**
 * The app on a fresh database. light-my-request's fake socket has a remote
 * address but no port; inject() requests take theirs from the
 * x-test-remote-port header (default 40000) so routes see a full endpoint.
 */
export async function buildTestApp (options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ databasePath: tempDatabasePath(), ...options })
  app.addHook('onRequest', async (request) => {
    if (request.socket.remotePort === undefined) {
      Object.defineProperty(request.socket, 'remotePort', { value: Number(request.headers['x-test-remote-port'] ?? 40000) })
    }
  })
  return app
}

export interface RegisteredPeer {
  id: string
  token: string
  publicEndpoint: { address: string, port: number }
}

export async function register (app: FastifyInstance, body: Record<string, unknown> = {}, remotePort = 40000, remoteAddress?: string): Promise<RegisteredPeer> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/peers',
    ...(remoteAddress !== undefined ? { remoteAddress } : {}),
    headers: { 'x-test-remote-port': String(remotePort) },
    payload: { privateEndpoints: [{ address: '192.168.1.10', port: 4000 }], ...body }
  })
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

export function bearer (peer: { token: string }): Record<string, string> {
  return { authorization: `Bearer ${peer.token}` }
}

/** Listens on an ephemeral loopback port and returns the base URL. */
export async function listenOnLoopback (app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP')
  return `http://127.0.0.1:${address.port}`
}

/** Resolves once `condition()` holds; fails after `timeoutMs`. */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Registers over real HTTP, so the observed endpoint is the client's real source. */
export async function registerOverHttp (baseUrl: string, body: Record<string, unknown>): Promise<RegisteredPeer> {
  const response = await fetch(`${baseUrl}/v1/peers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ privateEndpoints: [], ...body })
  })
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${await response.text()}`)
  return await response.json() as RegisteredPeer
}

/**
 * Registers over real HTTP with a key: a challenge, then the registration
 * signed with it (what the SDK does). Returns the registration and the key pair.
 */
export async function registerWithKeyOverHttp (baseUrl: string, body: { id: string } & Record<string, unknown>): Promise<RegisteredPeer & { privateKey: KeyObject, publicKey: string }> {
  const { privateKey, publicKey: publicKeyObject } = generateKeyPairSync('ed25519')
  const publicKey = publicKeyText(publicKeyObject)
  const { challenge } = await (await fetch(`${baseUrl}/v1/challenges`, { method: 'POST' })).json() as { challenge: string }
  const signature = sign(null, registrationMessage(challenge, body.id, publicKey), privateKey).toString('base64url')
  return { ...await registerOverHttp(baseUrl, { ...body, proof: { publicKey, challenge, signature } }), privateKey, publicKey }
}

/** Makes the app's mapping port listen on an ephemeral loopback port; returns the port. */
export async function listenMappingOnLoopback (app: FastifyInstance): Promise<number> {
  return await app.mappingPort.listen('127.0.0.1', 0)
}

export interface AnswerFrom {
  status: number
  headers: IncomingHttpHeaders
  body: any
  /** The local port the request was sent from. */
  localPort: number
}

/**
 * One HTTP request over a connection of its own, from a chosen local address
 * and port (0: any): what the server observes as the source is up to the
 * test. The request says "Connection: close", so the server closes first and
 * TIME_WAIT stays on its side: the local port can send again at once.
 */
export async function requestFrom (url: string, { method = 'GET', headers = {}, body, localPort = 0, localAddress = '127.0.0.1' }: { method?: string, headers?: Record<string, string>, body?: unknown, localPort?: number, localAddress?: string } = {}): Promise<AnswerFrom> {
  const target = new URL(url)
  return await new Promise((resolve, reject) => {
    const request = httpRequest({
      host: target.hostname.replace(/^\[|\]$/g, ''), // an IPv6 literal without its URL brackets
      port: Number(target.port),
      path: `${target.pathname}${target.search}`,
      method,
      agent: false,
      localAddress,
      localPort,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }
    }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => { response.socket?.end() })
      const socket = response.socket
      const port = socket.localPort ?? localPort
      // Answered once the connection is gone: the next request from this port may reach the same server port.
      socket.once('close', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text === '' ? undefined : JSON.parse(text), localPort: port })
      })
    })
    request.on('error', reject)
    request.end(body !== undefined ? JSON.stringify(body) : undefined)
  })
}

/** Handles of a kind this process holds now (TCPSocketWrap, TCPServerWrap, Timeout): what a leak test counts. */
export function handles (type: string): number {
  return process.getActiveResourcesInfo().filter((name) => name === type).length
}

/** A loopback port where nothing listens: dials to it are refused at once. */
export async function deadPort (): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
