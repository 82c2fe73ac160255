// One side's attach to the relay of an introduction: an HTTP/1.1 upgrade to
// punchline-relay/1 with the peer's token, on a connection of its own (not
// from the punch port: the server does not take its source for the peer's
// mapping). Resolves with the raw socket after the 101, or rejects with a
// typed error. The server is not trusted: what is read of its answer before
// the socket is handed over is bounded (head and refusal body), and an
// answer outside the protocol is refused.
import { connect, type Socket } from 'node:net'
import { Client, errors as undiciErrors, type Dispatcher } from 'undici'
import { namesRelayProtocol, RELAY_PROTOCOL, RETRY_AFTER_HEADER, relayPath } from '@punchline/protocol/http'
import { RELAY_KEEPALIVE_MS } from '@punchline/protocol/limits'
import { AbortedError, InvalidOptionError, InvalidResponseError, PunchlineError, RelayRefusedError, ServerUnreachableError } from '../errors.js'
import { reachFailure, refusalOf, serverConnector, type CertificateAuthorities } from '../server-connection.js'

/** From the first dial to the 101 (which the server sends at once, whether the other side is there or not). */
export const RELAY_ATTACH_TIMEOUT_MS = 10_000
/** The head of the server's answer, at most (undici's limit on it). */
const MAX_ANSWER_HEAD_BYTES = 16 * 1024
/** The body of a refusal, at most: the server's error bodies are a few hundred bytes. */
const MAX_REFUSAL_BYTES = 16 * 1024

export interface AttachRelayOptions {
  /** The rendezvous server: `https://` (or `http://` on a network you trust). */
  server: string
  /** The introduction both peers were given. */
  introductionId: string
  /** This peer's bearer token (its registration's). */
  token: string
  /** CA certificates to trust for an https:// server instead of the system's (a private CA). */
  ca?: CertificateAuthorities | undefined
  /** Aborts the attach until the socket is handed over (not after). */
  signal?: AbortSignal | undefined
  /** ms until the 101, default RELAY_ATTACH_TIMEOUT_MS. */
  timeout?: number | undefined
}

/** Refuses options that cannot work, before any work. */
function checked (options: AttachRelayOptions): { url: URL, timeout: number } {
  const { server, introductionId, token, timeout = RELAY_ATTACH_TIMEOUT_MS } = options
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new InvalidOptionError(`server must be an http:// or https:// URL, got "${String(server)}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError(`server must be an http:// or https:// URL, got "${server}"`)
  if (typeof introductionId !== 'string' || introductionId === '') throw new InvalidOptionError('introductionId must be a non-empty string')
  if (typeof token !== 'string' || token === '') throw new InvalidOptionError('token must be a non-empty string')
  if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) throw new InvalidOptionError(`timeout must be a number of ms greater than 0, got ${String(timeout)}`)
  return { url, timeout }
}

/**
 * Attaches this peer to the relay of an introduction and resolves with the
 * relayed connection once the server answered 101: what is written to it
 * reaches the other peer once that one has attached too (and is held until
 * then). The socket comes as a fresh one would (neither flowing nor paused,
 * TCP keepalive on, Nagle off), with an `'error'` listener of the SDK's so
 * that a reset cannot crash a program without one. The bytes are not
 * authenticated or encrypted by the relay: run the handshake over them.
 *
 * Rejects with RelayRefusedError (the server's code, field and Retry-After),
 * ServerUnreachableError (refused, reset, no 101 within `timeout`),
 * ServerUntrustedError, InvalidResponseError (an answer outside the
 * protocol), AbortedError, or InvalidOptionError.
 */
export async function attachRelay (options: AttachRelayOptions): Promise<Socket> {
  const { url, timeout } = checked(options)
  const { introductionId, token, ca, signal } = options
  const what = `relay of introduction ${introductionId}`
  if (signal?.aborted === true) throw new AbortedError(`${what}: aborted`)
  const client = new Client(url.origin, {
    connect: serverConnector({ secure: url.protocol === 'https:', ca, dial: (host, port) => connect({ host, port }) }),
    maxHeaderSize: MAX_ANSWER_HEAD_BYTES,
    headersTimeout: 0, // the whole attach has `timeout`, below
    bodyTimeout: 0
  })

  return await new Promise<Socket>((resolve, reject) => {
    let settled = false
    /** Where every path meets: once settled, a socket that still comes is closed. */
    const settle = (error: Error | undefined, socket?: Socket): void => {
      if (settled) {
        socket?.destroy()
        return
      }
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      // After an upgrade the client no longer holds the socket: this closes only what is left of the request.
      client.destroy().catch(() => {})
      if (error !== undefined) reject(error)
      else resolve(socket!)
    }
    const timer = setTimeout(() => { settle(new ServerUnreachableError(`${what}: no 101 from ${url.origin} within ${timeout} ms`)) }, timeout)
    const onAbort = (): void => { settle(new AbortedError(`${what}: aborted`)) }
    signal?.addEventListener('abort', onAbort, { once: true })

    let status = 0
    let retryAfter: string | string[] | undefined
    const body: Buffer[] = []
    let bodyBytes = 0
    const handler: Dispatcher.DispatchHandler = {
      // undici takes a handler of this (v7) shape by this method.
      onRequestStart () {},
      onRequestUpgrade (_controller, statusCode, headers, socket) {
        const relayed = socket as Socket
        if (statusCode !== 101 || !namesRelayProtocol(headers.upgrade)) {
          relayed.destroy()
          settle(new InvalidResponseError(`${what}: the server switched to "${String(headers.upgrade)}", not ${RELAY_PROTOCOL}`))
          return
        }
        relayed.on('error', () => {})
        relayed.setKeepAlive(true, RELAY_KEEPALIVE_MS)
        relayed.setNoDelay(true)
        settle(undefined, relayed)
      },
      onResponseStart (_controller, statusCode, headers) {
        status = statusCode
        retryAfter = headers[RETRY_AFTER_HEADER]
      },
      onResponseData (controller, chunk) {
        bodyBytes += chunk.length
        if (bodyBytes > MAX_REFUSAL_BYTES) {
          controller.abort(new InvalidResponseError(`${what}: the server's ${status} answer is over ${MAX_REFUSAL_BYTES} bytes`))
          return
        }
        body.push(chunk)
      },
      onResponseEnd () {
        if (status < 400) {
          settle(new InvalidResponseError(`${what}: the server answered ${status}, not 101 Switching Protocols`))
          return
        }
        const refusal = refusalOf(what, status, Buffer.concat(body).toString('utf8'), retryAfter)
        settle(new RelayRefusedError(refusal.message, status, refusal.serverCode, refusal.field, refusal.retryAfterMs))
      },
      onResponseError (_controller, error) {
        if (error instanceof PunchlineError) settle(error)
        else if (error instanceof undiciErrors.HeadersOverflowError) settle(new InvalidResponseError(`${what}: the server's answer head is over ${MAX_ANSWER_HEAD_BYTES} bytes`))
        else settle(reachFailure(error, what, url.origin) ?? error)
      }
    }
    client.dispatch({ origin: url.origin, path: relayPath(introductionId), method: 'GET', headers: { authorization: `Bearer ${token}` }, upgrade: RELAY_PROTOCOL }, handler)
  })
}
