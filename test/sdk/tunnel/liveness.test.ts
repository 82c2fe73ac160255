// The tunnel's ping watchdog, over real HTTP/2 on loopback through a proxy
// that can stop carrying the client's bytes (so pings go unanswered) while
// the server's bytes keep flowing, or stop both.
import { once } from 'node:events'
import { connect as http2Connect, createServer as createHttp2Server, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { PathDeadError } from '../../../sdk/index.js'
import { watchLiveness } from '../../../sdk/tunnel/liveness.js'

const INTERVAL_MS = 200
const TIMEOUT_MS = 400

interface Rig {
  session: ClientHttp2Session
  /** The client's socket, under the session. */
  socket: Socket
  /** Stop carrying bytes from the client to the server (pings no longer arrive). */
  holdUpstream: () => void
  /** The server's stream answering the client's request: write to it to send the client bytes. */
  serverStream: Promise<ServerHttp2Stream>
  close: () => void
}

const rigs: Rig[] = []
afterEach(() => { for (const rig of rigs.splice(0)) rig.close() })

async function rig (): Promise<Rig> {
  const h2 = createHttp2Server()
  let resolveStream: (stream: ServerHttp2Stream) => void = () => {}
  const serverStream = new Promise<ServerHttp2Stream>((resolve) => { resolveStream = resolve })
  h2.on('stream', (stream) => { stream.respond({ ':status': 200 }); resolveStream(stream) })
  h2.listen(0, '127.0.0.1')
  await once(h2, 'listening')
  let held = false
  const sockets: Socket[] = []
  const proxy: Server = createServer((downstream) => {
    const upstream = connect((h2.address() as AddressInfo).port, '127.0.0.1')
    sockets.push(downstream, upstream)
    for (const socket of [downstream, upstream]) socket.on('error', () => {})
    downstream.on('data', (chunk: Buffer) => { if (!held) upstream.write(chunk) })
    upstream.pipe(downstream)
  }).listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  const socket = connect((proxy.address() as AddressInfo).port, '127.0.0.1')
  await once(socket, 'connect')
  const session = http2Connect('http://tunnel.test', { createConnection: () => socket })
  session.on('error', () => {})
  await once(session, 'connect')
  const result: Rig = {
    session,
    socket,
    holdUpstream: () => { held = true },
    serverStream,
    close: () => {
      session.destroy()
      for (const each of sockets) each.destroy()
      proxy.close()
      h2.close()
    }
  }
  rigs.push(result)
  return result
}

async function closedWith (session: ClientHttp2Session): Promise<{ error: Error | undefined, at: number }> {
  let error: Error | undefined
  session.once('error', (failure: Error) => { error = failure })
  // Not once(): it would reject on the 'error' that comes first.
  await new Promise((resolve) => session.once('close', resolve))
  return { error, at: performance.now() }
}

describe('the tunnel\'s liveness watchdog', () => {
  it('keeps a tunnel whose pings are answered', async () => {
    const { session, socket } = await rig()
    watchLiveness(session, socket, { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS })
    await new Promise((resolve) => setTimeout(resolve, 5 * (INTERVAL_MS + TIMEOUT_MS)))
    expect(session.destroyed).toBe(false)
  })

  it('ends a tunnel with PathDeadError when pings go unanswered and nothing arrives', async () => {
    const { session, socket, holdUpstream } = await rig()
    watchLiveness(session, socket, { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS })
    const cut = performance.now()
    holdUpstream()
    const { error, at } = await closedWith(session)
    expect(error).toBeInstanceOf(PathDeadError)
    expect(error!.message).toMatch(/no answer to a ping, and no byte from the peer, for 400 ms/)
    expect(at - cut).toBeLessThan(INTERVAL_MS + TIMEOUT_MS + 1000)
  })

  it('keeps a busy tunnel whose ping answers are late while the peer\'s data keeps arriving, and ends it once the data stops', async () => {
    const { session, socket, holdUpstream, serverStream } = await rig()
    const request = session.request({ ':path': '/' })
    request.resume()
    request.on('error', () => {}) // the session's end ends it too
    const stream = await serverStream
    watchLiveness(session, socket, { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS })
    holdUpstream() // no ping reaches the server any more, so none is answered
    const sending = setInterval(() => { stream.write(Buffer.alloc(64)) }, TIMEOUT_MS / 4)
    await new Promise((resolve) => setTimeout(resolve, 5 * (INTERVAL_MS + TIMEOUT_MS)))
    expect(session.destroyed).toBe(false)
    clearInterval(sending)
    const stopped = performance.now()
    const { error, at } = await closedWith(session)
    expect(error).toBeInstanceOf(PathDeadError)
    expect(at - stopped).toBeLessThan(2 * (INTERVAL_MS + TIMEOUT_MS) + 1000)
  })
})
