// attachRelay against hostile servers written by hand: every failure its
// own class, nothing a server sends read without bound, nothing left behind.
// (Against the real server: test/server/relay/attach.test.ts, which runs on
// the Node that better-sqlite3 was built for, not in CI's Node matrix.)
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AbortedError, attachRelay, InvalidOptionError, InvalidResponseError, ServerUnreachableError, type AttachRelayOptions
} from '../../sdk/index.js'
import { handles } from '../helpers.js'
import { readAll } from '../server/relay/raw-upgrade.js'

const MiB = 1024 * 1024
const UNKNOWN = '00000000-0000-4000-8000-000000000000'

const servers: Server[] = []
afterEach(async () => { for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve)) })

/** A TCP server that answers every connection with `answer` (raw bytes, then whatever it does with the socket). */
async function handWritten (answer: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => { answer(socket) })
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function refusal (options: AttachRelayOptions): Promise<unknown> {
  return await attachRelay(options).then((socket) => { socket.destroy(); throw new Error('attached') }, (error: unknown) => error)
}

describe('attachRelay, against servers written by hand', () => {
  it('gives up on a server that does not answer within the timeout, and on one that is not there', async () => {
    const silent = await handWritten(() => {})
    const started = Date.now()
    const timedOut = await refusal({ server: silent, introductionId: UNKNOWN, token: 't', timeout: 300 })
    expect(timedOut).toBeInstanceOf(ServerUnreachableError)
    expect(Date.now() - started).toBeLessThan(2000)
    const closed = createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    expect(await refusal({ server: `http://127.0.0.1:${port}`, introductionId: UNKNOWN, token: 't' })).toBeInstanceOf(ServerUnreachableError)
  })

  it('stops at the signal, before and during the attach', async () => {
    const silent = await handWritten(() => {})
    expect(await refusal({ server: silent, introductionId: UNKNOWN, token: 't', signal: AbortSignal.abort() })).toBeInstanceOf(AbortedError)
    const controller = new AbortController()
    const pending = refusal({ server: silent, introductionId: UNKNOWN, token: 't', signal: controller.signal })
    setTimeout(() => { controller.abort() }, 100)
    expect(await pending).toBeInstanceOf(AbortedError)
  })

  it('refuses answers outside the protocol, reading no more of them than its bounds', async () => {
    // A body without end: refused past 16 KiB, not buffered.
    let written = 0
    const endless = await handWritten((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
      const chunk = `${(64 * 1024).toString(16)}\r\n${'x'.repeat(64 * 1024)}\r\n`
      const pump = (): void => { while (!socket.destroyed && socket.write(chunk)) written += 64 * 1024; if (!socket.destroyed) socket.once('drain', pump) }
      pump()
    })
    const tooLong = await refusal({ server: endless, introductionId: UNKNOWN, token: 't' })
    expect(tooLong).toBeInstanceOf(InvalidResponseError)
    expect((tooLong as Error).message).toMatch(/over 16384 bytes/)
    expect(written).toBeLessThan(16 * MiB)

    // A head without end.
    const hugeHead = await handWritten((socket) => { socket.write(`HTTP/1.1 101 Switching Protocols\r\nX-Junk: ${'j'.repeat(64 * 1024)}\r\n\r\n`) })
    expect(await refusal({ server: hugeHead, introductionId: UNKNOWN, token: 't' })).toBeInstanceOf(InvalidResponseError)

    // A switch to another protocol, and a 200.
    const websocket = await handWritten((socket) => { socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n') })
    expect(await refusal({ server: websocket, introductionId: UNKNOWN, token: 't' })).toBeInstanceOf(InvalidResponseError)
    const ok = await handWritten((socket) => { socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}') })
    expect(await refusal({ server: ok, introductionId: UNKNOWN, token: 't' })).toBeInstanceOf(InvalidResponseError)

    // A refusal outside the error table: its status stands in for the code; a Retry-After of a day is believed for 5 minutes.
    const odd = await handWritten((socket) => { socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 86400\r\nContent-Length: 9\r\n\r\nslow down') })
    expect(await refusal({ server: odd, introductionId: UNKNOWN, token: 't' })).toMatchObject({ status: 429, serverCode: 'HTTP_429', retryAfterMs: 300_000, retryable: true })
  })

  it('hands over the bytes a server sends right behind its 101, first', async () => {
    const eager = await handWritten((socket) => { socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: punchline-relay/1\r\n\r\nfirst bytes'); socket.end(' and more') })
    const socket = await attachRelay({ server: eager, introductionId: UNKNOWN, token: 't' })
    socket.end()
    expect((await readAll(socket)).toString()).toBe('first bytes and more')
  })

  it('refuses options that cannot work, before any work', async () => {
    const good = { server: 'http://127.0.0.1:1', introductionId: UNKNOWN, token: 't' }
    for (const [bad, message] of [
      [{ server: 'ftp://x' }, 'server must be an http:// or https:// URL, got "ftp://x"'],
      [{ server: 'not a url' }, 'server must be an http:// or https:// URL'],
      [{ introductionId: '' }, 'introductionId must be a non-empty string'],
      [{ token: '' }, 'token must be a non-empty string'],
      [{ timeout: 0 }, 'timeout must be a number of ms greater than 0, got 0']
    ] as const) {
      const error = await refusal({ ...good, ...bad })
      expect(error).toBeInstanceOf(InvalidOptionError)
      expect((error as Error).message).toContain(message)
    }
  })

  it('leaves no socket or timer behind, whether it timed out or was aborted', async () => {
    const silent = await handWritten(() => {})
    await new Promise((resolve) => setTimeout(resolve, 100))
    const before = { tcp: handles('TCPSocketWrap'), timers: handles('Timeout') }
    await refusal({ server: silent, introductionId: UNKNOWN, token: 't', timeout: 100 })
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 50)
    await refusal({ server: silent, introductionId: UNKNOWN, token: 't', signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
  })
})
