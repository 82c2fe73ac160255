// Reaching the rendezvous server, shared by its API client (rendezvous.ts)
// and the relay (relay/attach.ts): an undici connector that dials TCP its
// caller's way and runs TLS over it for https:// servers; what a failure to
// reach the server means (unreachable, or reached but not trusted); and what
// a refusal of the server says (its code, field and Retry-After), read as
// untrusted input.
import { isIP, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { errors as undiciErrors, type buildConnector } from 'undici'
import { Compile } from 'typebox/compile'
import { ErrorResponse } from '@punchline/protocol'
import { isErrorCode, type ErrorCode } from '@punchline/protocol/errors'
import { ServerUnreachableError, ServerUntrustedError, type UnknownServerCode } from './errors.js'
import { socketError } from './socket/socket-error.js'

/** A Retry-After longer than this is not believed: the SDK waits this long at most. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000
/** How much of a server's error message goes into an error's message. */
const MAX_ERROR_MESSAGE = 300

/** CA certificates to trust for an https:// server instead of the system's (a private CA). */
export type CertificateAuthorities = string | Buffer | Array<string | Buffer>

/** Errors of TLS handshakes with a server that was reached: not "unreachable", but "not trusted". */
const TLS_REFUSALS = new WeakSet<Error>()

const NETWORK_FAILURES = new Set(['ECONNREFUSED', 'ECONNABORTED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'])

export interface ServerConnectorOptions {
  /** TLS over the TCP connection (an https:// server). */
  secure: boolean
  ca?: CertificateAuthorities | undefined
  /** Dials TCP to the server. */
  dial: (host: string, port: number) => Socket
  /** Given the connected socket (the TLS one over `tcp` when secure): what undici should use. */
  connected?: (socket: Socket, tcp: Socket) => Socket
}

/** How long a connection to the server (TCP, and TLS over it) may take to come up: undici's own default. */
export const SERVER_CONNECT_TIMEOUT_MS = 10_000

/** undici's `connect` option: TCP by `dial`, then TLS for https:// (SNI for names only, ALPN http/1.1). */
export function serverConnector ({ secure, ca, dial, connected = (socket) => socket }: ServerConnectorOptions): buildConnector.connector {
  return (options, callback) => {
    const host = options.hostname.replace(/^\[|\]$/g, '')
    const tcp = dial(host, Number(options.port))
    let socket: Socket | TLSSocket = tcp
    if (secure) {
      // SNI carries names only (RFC 6066): an IP literal is checked against the certificate without it.
      const servername = options.servername ?? (isIP(host) === 0 ? host : undefined)
      socket = tlsConnect({ socket: tcp, host, ...(servername !== undefined ? { servername } : {}), ...(ca !== undefined ? { ca } : {}), ALPNProtocols: ['http/1.1'] })
    }
    const ready = secure ? 'secureConnect' : 'connect'
    let reached = false
    tcp.once('connect', () => { reached = true })
    // A connector of our own gets no connect timeout from undici. Without one, a SYN into a cut path stays
    // in SYN_SENT for the kernel's ~2 minutes, and keeps a closed Peer's process alive all that time.
    const timer = setTimeout(() => { socket.destroy(socketError('ETIMEDOUT', `connect timed out after ${SERVER_CONNECT_TIMEOUT_MS} ms`)) }, SERVER_CONNECT_TIMEOUT_MS)
    const settle = (error: Error | null): void => {
      clearTimeout(timer)
      socket.off('error', onError).off('close', onClose).off(ready, onReady)
      if (error === null) return callback(null, connected(socket, tcp))
      callback(error, null)
    }
    const onReady = (): void => { settle(null) }
    const onError = (error: Error): void => {
      // Connected, but the TLS handshake failed: the server is there, and it is not the one we trust.
      if (secure && reached) TLS_REFUSALS.add(error)
      settle(error)
    }
    // Destroyed without an error (by our own close): the connection is over all the same.
    const onClose = (): void => { settle(socketError('ECONNABORTED', 'connection closed before it came up')) }
    socket.once('error', onError).once('close', onClose).once(ready, onReady)
  }
}

/**
 * What a failure of a request to `origin` means: the server is not trusted
 * (its TLS certificate), or unreachable; undefined for anything else (a fault
 * of ours, to be thrown as it is).
 */
export function reachFailure (error: unknown, what: string, origin: string): ServerUntrustedError | ServerUnreachableError | undefined {
  const code = (error as NodeJS.ErrnoException).code ?? ''
  if (TLS_REFUSALS.has(error as Error)) {
    return new ServerUntrustedError(`${origin}: its TLS certificate cannot be verified (${code || (error as Error).message}); for a private CA, pass its certificate as "ca" (punchline: --ca FILE)`)
  }
  if (NETWORK_FAILURES.has(code) || error instanceof undiciErrors.UndiciError) {
    return new ServerUnreachableError(`${what}: ${origin} unreachable (${code || (error as Error).message})`)
  }
  return undefined
}

/** Retry-After in seconds (RFC 9110 also allows a date, which the server never sends), bounded. */
export function retryAfterMs (header: string | string[] | undefined): number | undefined {
  const seconds = Number(Array.isArray(header) ? header[0] : header)
  if (header === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined
  return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
}

export function parseJson (text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch {
    return Symbol('not JSON')
  }
}

let errorBody: { Check: (value: unknown) => boolean } | undefined
/** Compiled on first use: a program that never meets a refusal never pays for it. */
function isErrorBody (value: unknown): value is ErrorResponse {
  return (errorBody ??= Compile(ErrorResponse)).Check(value)
}

/** What a refusal (a 4xx or 5xx answer with `text` as its body) says, whatever the body holds. */
export interface Refusal {
  /** `what: status code: the server's message`, bounded. */
  message: string
  serverCode: ErrorCode | UnknownServerCode
  field: string | undefined
  retryAfterMs: number | undefined
}

export function refusalOf (what: string, status: number, text: string, retryAfter: string | string[] | undefined): Refusal {
  const parsed = parseJson(text)
  const problem = isErrorBody(parsed) ? parsed : undefined
  const serverCode: ErrorCode | UnknownServerCode = problem !== undefined && isErrorCode(problem.code) ? problem.code : `HTTP_${status}`
  return {
    message: `${what}: ${status} ${serverCode}: ${(problem?.message ?? text).slice(0, MAX_ERROR_MESSAGE)}`,
    serverCode,
    field: problem?.field,
    retryAfterMs: retryAfterMs(retryAfter)
  }
}
