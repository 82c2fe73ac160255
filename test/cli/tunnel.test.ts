// `punchline expose` and `punchline forward` as users run them, on loopback
// with a local `punchline serve`: bytes through the forwarded port with a
// checksum, clean exit on SIGTERM, a peer that is not allowed exits 1; and
// the progress line, drawn only on a terminal.
import path from 'node:path'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { BIN, exitOf, listening, run } from './run.js'
import { registerWithKeyOverHttp, tempDir } from '../helpers.js'
import { watch } from '../../lab/trial.js'

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')
const NO_LAN = ['--private='] // no LAN endpoints in tests: report none

describe('punchline expose and forward', () => {
  it('forwards a local port to an exposed service: 4 MB with a checksum, exit 0 on SIGTERM; a peer not allowed exits 1', async () => {
    const cwd = tempDir()
    const server = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const { url } = await listening(server)
    // The exposed service answers with the SHA-256 of all it received.
    const service = createServer({ allowHalfOpen: true }, (socket) => {
      const hash = createHash('sha256')
      socket.on('data', (chunk: Buffer) => hash.update(chunk))
      socket.on('end', () => { socket.end(hash.digest('hex')) })
    }).listen(0, '127.0.0.1')
    await once(service, 'listening')
    const servicePort = (service.address() as AddressInfo).port

    const exposer = run(['expose', '--server', url, '--id', 'home', '--to', `127.0.0.1:${servicePort}`, '--allow', 'laptop', '--json', ...NO_LAN], cwd)
    const exposed = watch(exposer)
    expect(await exposed.event('exposing')).toMatchObject({ id: 'home', service: `127.0.0.1:${servicePort}`, allow: ['laptop'] })

    const forwarder = run(['forward', '--server', url, '--id', 'laptop', '--peer', 'home', '--listen', '127.0.0.1:0', '--json', ...NO_LAN], cwd)
    const forwarded = watch(forwarder)
    const { port } = await forwarded.event('listening')
    expect(await forwarded.event('tunnel-up')).toMatchObject({ peerId: 'home', path: 'public' })

    const payload = randomBytes(4 << 20)
    const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
    client.end(payload)
    let answer = ''
    for await (const chunk of client) answer += String(chunk)
    expect(answer).toBe(sha256(payload))
    expect(await exposed.event('stream-closed')).toMatchObject({ peerId: 'laptop', bytesIn: payload.length })

    const mallory = await exitOf(run(['forward', '--server', url, '--id', 'mallory', '--peer', 'home', '--listen', '127.0.0.1:0', '--timeout', '1', ...NO_LAN], cwd))
    expect(mallory.code).toBe(1)
    expect(mallory.stderr).toContain('error: no authenticated connection')
    expect(await exposed.event('declined')).toMatchObject({ peerId: 'mallory' })

    forwarder.kill('SIGTERM')
    exposer.kill('SIGTERM')
    expect((await forwarded.done).code).toBe(0)
    expect((await exposed.done).code).toBe(0)
    service.close()
    server.kill('SIGTERM')
  })

  it('rejects bad usage with exit 2 and a precise message; takes a key that begins with a dash', async () => {
    const cwd = tempDir()
    const noAllow = await exitOf(run(['expose', '--server', 'http://127.0.0.1:1', '--to', '127.0.0.1:22'], cwd))
    expect(noAllow.code).toBe(2)
    expect(noAllow.stderr).toContain('--allow is required')
    const badListen = await exitOf(run(['forward', '--server', 'http://127.0.0.1:1', '--peer', 'home', '--listen', 'localhost'], cwd))
    expect(badListen.code).toBe(2)
    expect(badListen.stderr).toContain('--listen takes ADDR:PORT')
    // A key beginning with '-' (1 in 64) is the value of --peer-key, not an option: this fails on the server (exit 1), not on usage.
    const dashKey = await exitOf(run(['forward', '--server', 'http://127.0.0.1:1', '--peer', 'home', '--peer-key', '-OUEdMemDfvb9OjoFOvp9oZH3c2yMf3suAHEMkiD2ts', '--listen', '127.0.0.1:0'], cwd))
    expect(dashKey.stderr).toContain('unreachable')
    expect(dashKey.code).toBe(1)
  })
})

describe('progress on stderr', () => {
  // A target (with a key, or it would not be punched at all) that never answers: the punch runs for the whole --timeout.
  async function silentTarget (url: string): Promise<void> {
    await registerWithKeyOverHttp(url, { id: 'silent', privateEndpoints: [] })
  }

  it('draws a spinner with the phase, dial count and elapsed time on a terminal', async () => {
    const cwd = tempDir()
    const server = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const { url } = await listening(server)
    await silentTarget(url)
    // script(1) runs the command on a real pseudo-terminal and copies what it writes.
    const command = [process.execPath, BIN, 'peer', '--server', url, '--connect', 'silent', '--timeout', '1.5', ...NO_LAN].join(' ')
    const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { cwd, env: { ...process.env, XDG_CONFIG_HOME: path.join(cwd, 'config') } }).catch((error: { stdout: string }) => error)
    expect(stdout).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] punching silent: \d+ dial\(s\), [01]\.\d s/)
    expect(stdout).toContain('\u001b[2K') // the status line is cleared before each line above it
    expect(stdout).toContain('punchline: punch to silent failed')
    server.kill('SIGTERM')
  })

  it('writes plain lines without control characters when stderr is not a terminal', async () => {
    const cwd = tempDir()
    const server = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const { url } = await listening(server)
    await silentTarget(url)
    const { code, stderr } = await exitOf(run(['peer', '--server', url, '--connect', 'silent', '--timeout', '0.5', ...NO_LAN], cwd))
    expect(code).toBe(1)
    expect(stderr).toContain('punchline: introduced to silent (initiator)')
    expect(stderr).not.toMatch(/[\u001b\r⠋⠙⠹]/)
    server.kill('SIGTERM')
  })
})
