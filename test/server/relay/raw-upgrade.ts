// A hand-written HTTP/1.1 client for the relay tests: it sends exactly the
// bytes a test asks for (an upgrade, garbage after it, a wrong protocol) over
// a plain TCP socket, reads the answer's head, and hands over the socket
// after a 101 with any bytes that came behind the head put back.
import { connect, type Socket } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { RELAY_PROTOCOL, relayPath } from '@punchline/protocol'

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  /** The body of a refusal (read to the close), empty after a 101. */
  body: string
  /** After a 101: the relayed connection. */
  socket: Socket
  /** Whether the server has reset the connection (seen once the socket reads or writes). */
  wasReset: () => boolean
  /** Settles when the socket has closed. */
  closed: Promise<void>
}

export interface RawUpgradeOptions {
  token?: string | undefined
  protocol?: string | null
  /** Sent right behind the request's head, before any answer. */
  early?: Buffer | string
  /** Extra header lines, e.g. "X-A: b". */
  headerLines?: string[]
  method?: string
}

const MAX_HEAD = 64 * 1024

/** Sends the relay upgrade of `introductionId` to `baseUrl` (http://host:port) and reads the answer. */
export async function rawUpgrade (baseUrl: string, introductionId: string, options: RawUpgradeOptions = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl)
  // Half-open allowed: a test decides when its side ends, as a peer that half-closes would.
  const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true })
  let reset = false
  socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code === 'ECONNRESET') reset = true })
  const closed = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const protocol = options.protocol === undefined ? RELAY_PROTOCOL : options.protocol
  const lines = [
    `${options.method ?? 'GET'} ${relayPath(introductionId)} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    ...(protocol !== null ? ['Connection: Upgrade', `Upgrade: ${protocol}`] : []),
    ...(options.token !== undefined ? [`Authorization: Bearer ${options.token}`] : []),
    ...(options.headerLines ?? [])
  ]
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  if (options.early !== undefined) socket.write(options.early)
  return { ...await readAnswer(socket), wasReset: () => reset, closed }
}

async function readAnswer (socket: Socket): Promise<Omit<RawAnswer, 'wasReset' | 'closed'>> {
  let buffered: Buffer = Buffer.alloc(0)
  for await (const chunk of readable(socket)) {
    buffered = Buffer.concat([buffered, chunk])
    const end = buffered.indexOf('\r\n\r\n')
    if (end === -1) {
      if (buffered.length > MAX_HEAD) throw new Error('answer head too long')
      continue
    }
    const [statusLine, ...headerLines] = buffered.subarray(0, end).toString('latin1').split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1])
    const headers = Object.fromEntries(headerLines.map((line) => {
      const colon = line.indexOf(':')
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]
    }))
    const rest = buffered.subarray(end + 4)
    if (status === 101) {
      if (rest.length > 0) socket.unshift(rest)
      return { status, headers, body: '', socket }
    }
    // By its length when it has one (a server that ignores the upgrade keeps the connection), else to the end.
    const length = headers['content-length'] === undefined ? Infinity : Number(headers['content-length'])
    let body: Buffer = rest
    if (body.length < length) {
      for await (const more of readable(socket)) {
        body = Buffer.concat([body, more])
        if (body.length >= length) break
      }
    }
    // Done with it, as an HTTP client would be: its end of the connection closes too.
    socket.end()
    return { status, headers, body: body.subarray(0, length).toString('utf8'), socket }
  }
  throw new Error('the connection closed before an answer')
}

/** The socket's chunks until it ends, without ending it for good (the iterator of a stream would destroy it). */
async function * readable (socket: Socket): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = socket.read() as Buffer | null
    if (chunk !== null) {
      yield chunk
      continue
    }
    if (socket.readableEnded || socket.destroyed) return
    const more = await new Promise<boolean>((resolve) => {
      const done = (value: boolean) => () => {
        socket.off('readable', onReadable)
        socket.off('end', onEnd)
        socket.off('close', onEnd)
        resolve(value)
      }
      const onReadable = done(true)
      const onEnd = done(false)
      socket.once('readable', onReadable)
      socket.once('end', onEnd)
      socket.once('close', onEnd)
    })
    if (!more) {
      const last = socket.read() as Buffer | null
      if (last !== null) yield last
      return
    }
  }
}

/** `size` random bytes and their SHA-256. */
export function payload (size: number): { bytes: Buffer, sha256: string } {
  const bytes = randomBytes(size)
  return { bytes, sha256: sha256(bytes) }
}

export function sha256 (bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Everything a socket delivers until its end (or close), concatenated. */
export async function readAll (socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of readable(socket)) chunks.push(chunk)
  return Buffer.concat(chunks)
}
