// HTTP client of the rendezvous API over ONE connection dialed from the punch
// port, so the server observes the NAT mapping of that port. Two connections
// from one port to one server cannot coexist (same address pair), so other
// requests are pipelined behind the held long-poll; the server answers the
// poll at once when another request of the same peer arrives.
import type { Socket } from 'node:net'
import { Client, errors as undiciErrors, type Dispatcher } from 'undici'
import type { PortSockets, LocalAddress } from './socket/port-sockets.js'
import type { Endpoint, ErrorResponse, Inbox, Introduction, PunchReportBody, Registration, RegistrationWithToken } from '@punchline/protocol'
import { ERRORS, isErrorCode, type ErrorCode } from '@punchline/protocol/errors'
import { API_KEY_HEADER, API_PREFIX, RETRY_AFTER_HEADER } from '@punchline/protocol/http'
import { AbortedError, PeerUnknownError, ServerRejectedError, ServerUnreachableError, type UnknownServerCode } from './errors.js'

export type { Inbox, Introduction, Registration, RegistrationWithToken }

/** A request other than a long-poll gets this long for its answer. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Extra time a long-poll may take beyond its wait before it counts as lost. */
const POLL_GRACE_MS = 10_000

export interface RendezvousClientOptions {
  server: string
  local: LocalAddress
  sockets: PortSockets
  /** Sent as X-API-Key when registering, for servers that require one. */
  apiKey?: string | undefined
}

export interface RegisterBody {
  id?: string | undefined
  privateEndpoints: Endpoint[]
  ttlSeconds?: number | undefined
}

interface Call {
  method: Dispatcher.HttpMethod
  path: string
  token?: string | undefined
  apiKey?: string | undefined
  body?: unknown
  timeoutMs?: number
  signal?: AbortSignal | undefined
  /** A long-poll: others may be pipelined behind it. */
  poll?: boolean
}

/** A Retry-After longer than this is not believed: the SDK waits this long at most. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000

const NETWORK_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * Makes every close of the socket abortive (RST, like SO_LINGER 0). A normal
 * close by us would leave the address pair P <-> server in TIME_WAIT for a
 * minute, and the next connection from P to the server — the only one we may
 * make — would fail with EADDRNOTAVAIL until then.
 */
function closeWithReset (socket: Socket): Socket {
  const destroy = socket.destroy.bind(socket)
  let established = false
  let resetting = false
  socket.once('connect', () => { established = true })
  socket.destroy = (error?: Error): Socket => {
    // A failed connect has nothing to reset, and its error must reach undici.
    if (resetting || !established || socket.destroyed) return destroy(error)
    resetting = true
    return socket.resetAndDestroy() // calls destroy() again, which now closes for real
  }
  return socket
}

/** Retry-After in seconds (RFC 9110 also allows a date, which the server never sends), bounded. */
function retryAfterMs (header: string | string[] | undefined): number | undefined {
  const seconds = Number(Array.isArray(header) ? header[0] : header)
  if (header === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined
  return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
}

export class RendezvousClient {
  readonly server: URL
  readonly #client: Client
  readonly #apiKey: string | undefined

  constructor ({ server, local, sockets, apiKey }: RendezvousClientOptions) {
    this.server = new URL(server)
    this.#apiKey = apiKey
    this.#client = new Client(this.server.origin, {
      pipelining: 4,
      keepAliveTimeout: 60_000,
      headersTimeout: 0, // per request, below
      bodyTimeout: 0,
      connect: (options, callback) => {
        const socket = closeWithReset(sockets.dial(local, { address: options.hostname.replace(/^\[|\]$/g, ''), port: Number(options.port) }))
        const onError = (error: Error): void => { callback(error, null) }
        socket.once('error', onError)
        socket.once('connect', () => {
          socket.off('error', onError)
          callback(null, socket)
        })
      }
    })
  }

  async #call<T> ({ method, path, token, apiKey, body, timeoutMs = REQUEST_TIMEOUT_MS, signal, poll = false }: Call): Promise<{ status: number, body: T }> {
    const timeout = AbortSignal.timeout(timeoutMs)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    let response: Dispatcher.ResponseData
    try {
      response = await this.#client.request({
        method,
        path,
        headers: {
          ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
          ...(apiKey !== undefined ? { [API_KEY_HEADER]: apiKey } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {})
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: combined,
        // The poll does not block the pipeline; the requests behind it must be sent at once.
        blocking: !poll,
        idempotent: true
      })
    } catch (error) {
      if (signal?.aborted === true) throw new AbortedError(`${method} ${path} aborted`)
      if (timeout.aborted) throw new ServerUnreachableError(`${method} ${path}: no answer from ${this.server.origin} within ${timeoutMs} ms`)
      const code = (error as NodeJS.ErrnoException).code ?? ''
      if (NETWORK_FAILURES.has(code) || error instanceof undiciErrors.UndiciError) {
        throw new ServerUnreachableError(`${method} ${path}: ${this.server.origin} unreachable (${code || (error as Error).message})`)
      }
      throw error
    }
    const text = await response.body.text()
    const parsed = text === '' ? undefined : JSON.parse(text) as unknown
    if (response.statusCode >= 400) {
      const problem = (parsed ?? {}) as Partial<ErrorResponse>
      const serverCode: ErrorCode | UnknownServerCode = typeof problem.code === 'string' && isErrorCode(problem.code) ? problem.code : `HTTP_${response.statusCode}`
      const message = `${method} ${path}: ${response.statusCode} ${serverCode}: ${problem.message ?? text}`
      if (serverCode === ERRORS.PEER_NOT_FOUND.code) throw new PeerUnknownError(message)
      throw new ServerRejectedError(message, response.statusCode, serverCode, problem.field, retryAfterMs(response.headers[RETRY_AFTER_HEADER]))
    }
    return { status: response.statusCode, body: parsed as T }
  }

  async register (body: RegisterBody, token?: string): Promise<RegistrationWithToken> {
    return (await this.#call<RegistrationWithToken>({ method: 'POST', path: `${API_PREFIX}/peers`, body, token, apiKey: this.#apiKey })).body
  }

  async introduce (token: string, target: string, signal?: AbortSignal): Promise<Introduction> {
    return (await this.#call<Introduction>({ method: 'POST', path: `${API_PREFIX}/introductions`, token, body: { target }, signal })).body
  }

  async reportOutcome (token: string, introductionId: string, report: PunchReportBody, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    await this.#call({ method: 'POST', path: `${API_PREFIX}/introductions/${encodeURIComponent(introductionId)}/outcome`, token, body: report, timeoutMs })
  }

  async poll (peerId: string, token: string, after: number, waitSeconds: number, signal?: AbortSignal): Promise<Inbox> {
    const path = `${API_PREFIX}/peers/${encodeURIComponent(peerId)}/inbox?after=${after}&wait=${waitSeconds}`
    return (await this.#call<Inbox>({ method: 'GET', path, token, signal, poll: true, timeoutMs: waitSeconds * 1000 + POLL_GRACE_MS })).body
  }

  async deregister (peerId: string, token: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API_PREFIX}/peers/${encodeURIComponent(peerId)}`, token, timeoutMs })
  }

  /** Closes the connection now; requests under way fail. */
  async close (): Promise<void> {
    await this.#client.destroy()
  }
}
