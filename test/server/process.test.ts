// The server process under a kill: SIGKILL in the middle of a stream of
// introductions loses none that were acknowledged with a 2xx; SIGTERM answers
// held polls at once, finishes, and closes the database cleanly.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../server/package-root.js'
import { bearer, registerOverHttp, tempDir, type RegisteredPeer } from '../helpers.js'
import { liftedLimitFlags } from '../../lab/limits-lifted.js'

const BIN = path.join(PACKAGE_ROOT, 'bin', 'punchline.js')
const running: ChildProcessWithoutNullStreams[] = []
afterEach(() => { for (const child of running.splice(0)) child.kill('SIGKILL') })

async function serve (databasePath: string): Promise<{ child: ChildProcessWithoutNullStreams, url: string }> {
  // The stream below is as fast as loopback allows, into an inbox nobody reads meanwhile: lift those limits.
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--db', databasePath, ...liftedLimitFlags()])
  running.push(child)
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line)
    if (typeof entry.docs === 'string') return { child, url: entry.url as string }
  }
  throw new Error('server exited before listening')
}

const exited = async (child: ChildProcessWithoutNullStreams): Promise<number | null> =>
  await new Promise((resolve) => child.once('exit', (code) => { resolve(code) }))

describe('the server process', () => {
  it('delivers every introduction that got a 2xx after a SIGKILL in the middle of the stream', async () => {
    const databasePath = path.join(tempDir(), 'crash.db')
    const first = await serve(databasePath)
    const alice = await registerOverHttp(first.url, { id: 'alice' })
    const bob = await registerOverHttp(first.url, { id: 'bob' })

    const acknowledged: string[] = []
    let killed = false
    const stream = async (): Promise<void> => {
      while (!killed) {
        try {
          const response = await fetch(`${first.url}/v1/introductions`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: '{"target":"bob"}' })
          if (response.status === 201) acknowledged.push((await response.json() as { id: string }).id)
        } catch {} // the connection died with the server
      }
    }
    const streams = Array.from({ length: 4 }, stream)
    while (acknowledged.length < 150) await new Promise((resolve) => setTimeout(resolve, 5))
    first.child.kill('SIGKILL')
    killed = true
    await Promise.all([...streams, exited(first.child)])

    const second = await serve(databasePath)
    const delivered = new Set<string>()
    let cursor = 0
    for (;;) {
      const inbox = await (await fetch(`${second.url}/v1/peers/bob/inbox?after=${cursor}&wait=0`, { headers: bearer(bob) })).json() as { introductions: Array<{ id: string }>, cursor: number }
      if (inbox.introductions.length === 0) break
      for (const introduction of inbox.introductions) delivered.add(introduction.id)
      cursor = inbox.cursor
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(150)
    expect(acknowledged.filter((id) => !delivered.has(id))).toEqual([])
    second.child.kill('SIGTERM')
    await exited(second.child)
  })

  it('on SIGTERM lets a request in flight finish', async () => {
    const { child, url } = await serve(path.join(tempDir(), 'inflight.db'))
    const { hostname, port } = new URL(url)
    const body = '{"id":"late","privateEndpoints":[]}'
    const socket = net.connect(Number(port), hostname)
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
    await once(socket, 'connect')
    // Half the body is sent when the signal arrives; the rest follows.
    socket.write(`POST /v1/peers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const exit = exited(child)
    child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 300))
    socket.write(body.slice(10))
    await once(socket, 'close')
    expect(answer).toMatch(/^HTTP\/1.1 201/)
    expect(answer).toContain('"id":"late"')
    expect(await exit).toBe(0)
  })

  it('on SIGTERM answers held polls at once, exits 0 and closes the database cleanly', async () => {
    const databasePath = path.join(tempDir(), 'shutdown.db')
    const { child, url } = await serve(databasePath)
    const bob: RegisteredPeer = await registerOverHttp(url, { id: 'bob' })
    const held = fetch(`${url}/v1/peers/bob/inbox?wait=30`, { headers: bearer(bob) })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = performance.now()
    const exit = exited(child)
    child.kill('SIGTERM')
    const response = await held
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ introductions: [], cursor: 0 })
    expect(performance.now() - started).toBeLessThan(2000) // not the 30 s wait
    expect(await exit).toBe(0)
    // A clean close checkpoints the WAL into the database file and removes it.
    expect(existsSync(`${databasePath}-wal`)).toBe(false)
    expect(existsSync(databasePath)).toBe(true)
  })
})
