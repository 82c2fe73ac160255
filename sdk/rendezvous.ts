// HTTP client of the rendezvous API over ONE connection dialed from the punch
// port (TLS over it for https:// servers), so the server observes the NAT
// mapping of that port. Two connections from one port to one server cannot
// coexist (same address pair), so other requests are pipelined behind the
// held long-poll; the server answers the poll at once when another request of
// the same peer arrives. The mapping probe is the one request sent over a
// connection of its own, from the same port, to the server's mapping port at
// the address the API connection reached; the IPv6 observation is another,
// from the IPv6 punch port to the server's name resolved over IPv6, so that
// the server sees our IPv6 endpoint. Every answer is bounded in size and
// checked against the protocol's schema before anything uses it: the server
// is not trusted.
import { sign } from 'node:crypto'
import { isIP, type Socket } from 'node:net'
import { Client, type Dispatcher } from 'undici'
import { Compile } from 'typebox/compile'
import type { Static, TSchema } from 'typebox'
import { ChallengeResponse, Inbox, Introduction, Ipv6Observation, MappingObservation, PunchReport, Registration, RegistrationWithToken, type Endpoint, type PunchReportBody, registrationMessage } from '@punchline/protocol'
import { ERRORS } from '@punchline/protocol/errors'
import { API_KEY_HEADER, API_PREFIX, RETRY_AFTER_HEADER } from '@punchline/protocol/http'
import type { PortSockets, LocalAddress } from './socket/port-sockets.js'
import type { Identity } from './identity/identity.js'
import { AbortedError, InvalidResponseError, PeerUnknownError, ServerRejectedError, ServerUnreachableError } from './errors.js'
import { parseJson, reachFailure, refusalOf, serverConnector, type CertificateAuthorities } from './server-connection.js'

export { MAX_RETRY_AFTER_MS } from './server-connection.js'

/** A request other than a long-poll gets this long for its answer. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Extra time a long-poll may take beyond its wait before it counts as lost. */
const POLL_GRACE_MS = 10_000
/**
 * The largest answer read from the server. The largest valid one, a poll
 * with 100 introductions of peers with 8 private endpoints each, is about
 * 150 KiB.
 */
export const MAX_RESPONSE_BYTES = 512 * 1024

export interface RendezvousClientOptions {
  server: string
  /** The punch port, IPv4: the API connection comes from it. */
  local: LocalAddress
  /** The IPv6 punch port, when there is one: the IPv6 observation comes from it. */
  localIpv6?: LocalAddress | undefined
  sockets: PortSockets
  /** Sent as X-API-Key when registering, for servers that require one. */
  apiKey?: string | undefined
  /** CA certificates to trust for an https:// server instead of the system's (a private CA). */
  ca?: CertificateAuthorities | undefined
  /** TCP keepalive of the connection to the server (0: off): it keeps P's mapping alive through long polls. */
  keepAliveMs: number
}

/** What a registration asks for; the proof of the key is added by register(). */
export interface RegisterBody {
  id?: string | undefined
  privateEndpoints: Endpoint[]
  ttlSeconds?: number | undefined
}

/** A compiled check of an answer against its schema in the protocol. */
interface Answer<T> {
  name: string
  check: (value: unknown) => value is T
}

/** Compiled on first use: a program that never talks to a server never pays for it. */
function answer<S extends TSchema> (name: string, schema: S): Answer<Static<S>> {
  let compiled: { Check: (value: unknown) => boolean } | undefined
  return { name, check: (value): value is Static<S> => (compiled ??= Compile(schema)).Check(value) }
}

const ANSWERS = {
  registration: answer('a registration', RegistrationWithToken),
  challenge: answer('a challenge', ChallengeResponse),
  introduction: answer('an introduction', Introduction),
  inbox: answer('an inbox', Inbox),
  report: answer('a punch report', PunchReport),
  registrationView: answer('a registration', Registration),
  mapping: answer('a mapping observation', MappingObservation),
  ipv6: answer('an IPv6 observation', Ipv6Observation),
  none: { name: 'no content', check: (value: unknown): value is undefined => value === undefined }
}

interface Call<T> {
  /** The API connection's client, unless given. */
  dispatcher?: Dispatcher
  method: Dispatcher.HttpMethod
  path: string
  expect: Answer<T>
  token?: string | undefined
  apiKey?: string | undefined
  body?: unknown
  timeoutMs?: number
  signal?: AbortSignal | undefined
  /** A long-poll: others may be pipelined behind it. */
  poll?: boolean
}

/**
 * Makes every close of `outer` (the TCP socket, or the TLS socket over it)
 * abortive: the TCP connection `tcp` ends with a RST, like SO_LINGER 0. A
 * normal close by us would leave the address pair P <-> server in TIME_WAIT
 * for a minute, and the next connection from P to the server — the only one
 * we may make — would fail with EADDRNOTAVAIL until then.
 */
function closeWithReset (outer: Socket, tcp: Socket): Socket {
  const destroy = outer.destroy.bind(outer)
  let state: 'open' | 'scheduled' | 'resetting' = 'open'
  outer.destroy = (error?: Error): Socket => {
    if (state === 'resetting') return destroy(error) // the reset's own destroy, below
    if (state === 'scheduled') return outer // a second close while the reset is on its way: it is still a reset
    // A failed connect has nothing to reset, and its error must reach undici; a connection shut down cannot be reset.
    if (tcp.connecting || tcp.destroyed || outer.destroyed || tcp.writableEnded) return destroy(error)
    state = 'scheduled'
    // Not within the caller's call: undici destroys a socket from inside its parser (an answer that says
    // "Connection: close"), and the end that a reset makes a TLS socket emit at once would enter the parser
    // again, which fails an assertion of undici's and leaves the request hanging, deaf to its abort signal.
    process.nextTick(() => {
      state = 'resetting'
      if (!tcp.destroyed) tcp.resetAndDestroy()
      destroy(error)
    })
    return outer
  }
  return outer
}

/** The body as text, or an InvalidResponseError once it grows past MAX_RESPONSE_BYTES. */
async function boundedText (body: Dispatcher.ResponseData['body'], what: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += (chunk as Buffer).length
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy()
      throw new InvalidResponseError(`${what}: the answer is over ${MAX_RESPONSE_BYTES} bytes`)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export class RendezvousClient {
  readonly server: URL
  readonly #client: Client
  readonly #apiKey: string | undefined
  readonly #local: LocalAddress
  readonly #localIpv6: LocalAddress | undefined
  readonly #sockets: PortSockets
  readonly #ca: RendezvousClientOptions['ca']
  readonly #keepAliveMs: number
  /** The address the API connection reached: where the mapping probe goes, whatever else the name resolves to. */
  #reached: string | undefined
  #connections = 0
  /** Connections to the server still coming up: close() ends them, or a SYN into a cut path outlives us. */
  readonly #connecting = new Set<Socket>()

  constructor ({ server, local, localIpv6, sockets, apiKey, ca, keepAliveMs }: RendezvousClientOptions) {
    this.server = new URL(server)
    this.#apiKey = apiKey
    this.#local = local
    this.#localIpv6 = localIpv6
    this.#sockets = sockets
    this.#ca = ca
    this.#keepAliveMs = keepAliveMs
    this.#client = new Client(this.server.origin, {
      pipelining: 4,
      keepAliveTimeout: 60_000,
      headersTimeout: 0, // per request, below
      bodyTimeout: 0,
      connect: this.#connector((tcp) => {
        this.#reached = tcp.remoteAddress
        this.#connections++
      })
    })
  }

  /** Connections to the API made so far: a new one may leave the NAT through a new mapping. */
  get connections (): number {
    return this.#connections
  }

  /**
   * undici's connect: TCP from the punch port with keepalive (TLS over it
   * for https://, checked against the server's name), closed with a reset. `address`, when
   * given, is dialed instead of the name's address; `local` is the IPv4 punch port unless given
   * (a name is resolved in the family of the port it is dialed from).
   */
  #connector (onConnected: (tcp: Socket) => void, address?: string, local: LocalAddress = this.#local): Client.Options['connect'] {
    const keepAliveMs = this.#keepAliveMs
    return serverConnector({
      secure: this.server.protocol === 'https:',
      ca: this.#ca,
      dial: (host, port) => {
        const tcp = this.#sockets.dial(local, { address: address ?? host, port })
        if (keepAliveMs > 0) tcp.setKeepAlive(true, keepAliveMs)
        this.#connecting.add(tcp)
        const settled = (): void => { this.#connecting.delete(tcp) }
        tcp.once('connect', settled).once('close', settled)
        return tcp
      },
      connected: (socket, tcp) => {
        onConnected(tcp)
        return closeWithReset(socket, tcp)
      }
    })
  }

  async #call<T> ({ dispatcher = this.#client, method, path, expect, token, apiKey, body, timeoutMs = REQUEST_TIMEOUT_MS, signal, poll = false }: Call<T>): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs)
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    const what = `${method} ${path}`
    let response: Dispatcher.ResponseData
    try {
      response = await dispatcher.request({
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
      if (signal?.aborted === true) throw new AbortedError(`${what} aborted`)
      if (timeout.aborted) throw new ServerUnreachableError(`${what}: no answer from ${this.server.origin} within ${timeoutMs} ms`)
      throw reachFailure(error, what, this.server.origin) ?? error
    }
    const text = await boundedText(response.body, what)
    if (response.statusCode >= 400) {
      const { message, serverCode, field, retryAfterMs } = refusalOf(what, response.statusCode, text, response.headers[RETRY_AFTER_HEADER])
      if (serverCode === ERRORS.PEER_NOT_FOUND.code) throw new PeerUnknownError(message)
      throw new ServerRejectedError(message, response.statusCode, serverCode, field, retryAfterMs)
    }
    const parsed = parseJson(text)
    if (!expect.check(parsed)) throw new InvalidResponseError(`${what}: the server's ${response.statusCode} answer is not ${expect.name} of the protocol`)
    return parsed
  }

  /**
   * Registers, proving the identity key with a signed challenge (both
   * requests on the one connection, so on the same server instance).
   */
  async register (body: RegisterBody, identity: Identity, token?: string): Promise<RegistrationWithToken> {
    const { challenge } = await this.#call({ method: 'POST', path: `${API_PREFIX}/challenges`, expect: ANSWERS.challenge, apiKey: this.#apiKey })
    const signature = sign(null, registrationMessage(challenge, body.id, identity.key), identity.privateKey).toString('base64url')
    const proof = { publicKey: identity.key, challenge, signature }
    const registration = await this.#call({ method: 'POST', path: `${API_PREFIX}/peers`, expect: ANSWERS.registration, body: { ...body, proof }, token, apiKey: this.#apiKey })
    if (body.id !== undefined && registration.id !== body.id) throw new InvalidResponseError(`the server registered "${registration.id}", not "${body.id}"`)
    if (registration.publicKey !== identity.key) throw new InvalidResponseError(`the server registered "${registration.id}" with another key than ours`)
    return registration
  }

  async getRegistration (peerId: string, token: string, signal?: AbortSignal): Promise<Registration> {
    const registration = await this.#call({ method: 'GET', path: `${API_PREFIX}/peers/${encodeURIComponent(peerId)}`, expect: ANSWERS.registrationView, token, signal })
    if (registration.id !== peerId) throw new InvalidResponseError(`the server answered for "${registration.id}", not "${peerId}"`)
    return registration
  }

  async introduce (token: string, target: string, signal?: AbortSignal): Promise<Introduction> {
    const introduction = await this.#call({ method: 'POST', path: `${API_PREFIX}/introductions`, expect: ANSWERS.introduction, token, body: { target }, signal })
    if (introduction.peer.id !== target || introduction.role !== 'initiator') throw new InvalidResponseError(`the server introduced us to "${introduction.peer.id}" as ${introduction.role}, not to "${target}" as initiator`)
    return introduction
  }

  async reportOutcome (token: string, introductionId: string, report: PunchReportBody, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    await this.#call({ method: 'POST', path: `${API_PREFIX}/introductions/${encodeURIComponent(introductionId)}/outcome`, expect: ANSWERS.report, token, body: report, timeoutMs })
  }

  async poll (peerId: string, token: string, after: number, waitSeconds: number, signal?: AbortSignal): Promise<Inbox> {
    const path = `${API_PREFIX}/peers/${encodeURIComponent(peerId)}/inbox?after=${after}&wait=${waitSeconds}`
    return await this.#call({ method: 'GET', path, expect: ANSWERS.inbox, token, signal, poll: true, timeoutMs: waitSeconds * 1000 + POLL_GRACE_MS })
  }

  /**
   * The mapping probe: one request over a connection of its own from the
   * punch port to `port` of the address the API connection reached (never to
   * another address, whatever the server says), closed as soon as it is
   * answered. Only after a request on the API connection was answered: until
   * then there is no address, and nothing for the server to compare with.
   */
  async probeMapping (peerId: string, token: string, port: number, { timeoutMs, signal }: { timeoutMs: number, signal?: AbortSignal | undefined }): Promise<Static<typeof MappingObservation>> {
    const address = this.#reached
    if (address === undefined) throw new ServerUnreachableError('no connection to the server yet: nothing to compare a mapping probe with')
    const origin = new URL(this.server.origin)
    origin.port = String(port)
    const client = new Client(origin.origin, { pipelining: 0, headersTimeout: 0, bodyTimeout: 0, connect: this.#connector(() => {}, address) })
    try {
      return await this.#call({ dispatcher: client, method: 'POST', path: `${API_PREFIX}/peers/${encodeURIComponent(peerId)}/mapping`, expect: ANSWERS.mapping, token, timeoutMs, signal })
    } finally {
      await client.destroy()
    }
  }

  /**
   * Whether the IPv6 observation can be sent: we have an IPv6 punch port,
   * and the server is a name (it may have an IPv6 address) or an IPv6 literal.
   */
  get canObserveIpv6 (): boolean {
    return this.#localIpv6 !== undefined && isIP(this.server.hostname) !== 4
  }

  /**
   * The IPv6 observation: one request over a connection of its own from the
   * IPv6 punch port to the server's API port, the name resolved over IPv6,
   * closed as soon as it is answered. The server records where it came from.
   */
  async observeIpv6 (peerId: string, token: string, { timeoutMs, signal }: { timeoutMs: number, signal?: AbortSignal | undefined }): Promise<Static<typeof Ipv6Observation>> {
    const local = this.#localIpv6
    if (local === undefined) throw new ServerUnreachableError('no IPv6 punch port to observe')
    const client = new Client(this.server.origin, { pipelining: 0, headersTimeout: 0, bodyTimeout: 0, connect: this.#connector(() => {}, undefined, local) })
    try {
      return await this.#call({ dispatcher: client, method: 'POST', path: `${API_PREFIX}/peers/${encodeURIComponent(peerId)}/ipv6-endpoint`, expect: ANSWERS.ipv6, token, timeoutMs, signal })
    } finally {
      await client.destroy()
    }
  }

  async deregister (peerId: string, token: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API_PREFIX}/peers/${encodeURIComponent(peerId)}`, expect: ANSWERS.none, token, timeoutMs })
  }

  /** Closes the connection now, and any still coming up; requests under way fail. */
  async close (): Promise<void> {
    // undici does not abort a connect under way when destroyed: it waits for it, then closes it.
    for (const tcp of this.#connecting) tcp.destroy()
    await this.#client.destroy()
  }
}
