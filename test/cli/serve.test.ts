// The `punchline` bin as a user runs it: plain JavaScript from the build,
// embedded SQLite default, listening URL and Swagger UI URL in the log,
// clean exit on SIGTERM, precise errors for bad settings.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { exitOf, listening, run } from './run.js'
import { createServer, type AddressInfo } from 'node:net'
import { requestFrom, tempDir } from '../helpers.js'

describe('punchline serve', () => {
  it('starts on the embedded SQLite default, logs its URLs, serves the API and Swagger UI, and exits 0 on SIGTERM', async () => {
    const cwd = tempDir()
    const child = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const entry = await listening(child)
    expect(entry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(entry.docs).toBe(`${entry.url}/docs`)
    expect(entry.msg).toContain(`Swagger UI ${entry.url}/docs`)
    expect(entry.database).toBe(path.join(cwd, 'data', 'punchline.db'))
    expect(existsSync(path.join(cwd, 'data', 'punchline.db'))).toBe(true)

    expect((await fetch(`${entry.url}/health`)).status).toBe(200)
    const docs = await fetch(`${entry.docs}/`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain('swagger-ui')
    const registered = await fetch(`${entry.url}/v1/peers`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"cli","privateEndpoints":[]}' })
    expect(registered.status).toBe(201)

    const exited = exitOf(child)
    child.kill('SIGTERM')
    expect((await exited).code).toBe(0)
  })

  it('reads its settings from environment variables', async () => {
    const cwd = tempDir()
    const child = run(['serve'], cwd, { PUNCHLINE_HOST: '127.0.0.1', PUNCHLINE_PORT: '0', PUNCHLINE_DB: 'elsewhere/p.db', PUNCHLINE_LOG_LEVEL: 'info' })
    const entry = await listening(child)
    expect(entry.database).toBe(path.join(cwd, 'elsewhere', 'p.db'))
    child.kill('SIGTERM')
  })

  it('exits 2 with a precise message on a bad setting or an unknown option', async () => {
    const badPort = await exitOf(run(['serve', '--port', '99999'], tempDir()))
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toContain('--port (PUNCHLINE_PORT) must be an integer from 0 to 65535, got "99999"')
    const unknown = await exitOf(run(['serve', '--colour'], tempDir()))
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/Unknown option '--colour'/)
    const command = await exitOf(run(['dance'], tempDir()))
    expect(command.code).toBe(2)
    expect(command.stderr).toContain('unknown command "dance"')
  })

  it('listens on a mapping port beside its port, gives way when that one is taken, and fails on a taken port asked for by number', async () => {
    const started = run(['serve', '--host', '127.0.0.1', '--port', '0'], tempDir())
    const entry = await listening(started) as Awaited<ReturnType<typeof listening>> & { port: number, mappingPort: number | null }
    expect(entry.mappingPort).toEqual(expect.any(Number))
    expect(entry.mappingPort).not.toBe(entry.port)
    const registered = await requestFrom(`${entry.url}/v1/peers`, { method: 'POST', body: { id: 'cli', privateEndpoints: [] } })
    expect(registered.body).toMatchObject({ mapping: 'unknown', mappingProbe: { port: entry.mappingPort } })
    const probed = await requestFrom(`http://127.0.0.1:${entry.mappingPort!}/v1/peers/cli/mapping`, { method: 'POST', headers: { authorization: `Bearer ${registered.body.token as string}` }, localPort: registered.localPort })
    expect(probed.body).toMatchObject({ mapping: 'independent' })
    started.kill('SIGTERM')

    // A port whose next one is taken: the server starts without a mapping port and says why.
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const takenPort = (taken.address() as AddressInfo).port
    try {
      const beside = run(['serve', '--host', '127.0.0.1', '--port', String(takenPort - 1)], tempDir())
      const logged = exitOf(beside)
      const besideEntry = await listening(beside) as Awaited<ReturnType<typeof listening>> & { mappingPort: number | null }
      expect(besideEntry.mappingPort).toBeNull()
      const unoffered = await requestFrom(`${besideEntry.url}/v1/peers`, { method: 'POST', body: { privateEndpoints: [] } })
      expect(unoffered.body).not.toHaveProperty('mappingProbe')
      beside.kill('SIGTERM')
      expect((await logged).stdout).toContain(`no mapping port: port ${takenPort}, the next one after --port, is taken`)

      const insisting = await exitOf(run(['serve', '--host', '127.0.0.1', '--port', '0', '--mapping-port', String(takenPort)], tempDir()))
      expect(insisting.code).toBe(1)
      expect(insisting.stderr).toContain('EADDRINUSE')
    } finally {
      taken.close()
    }

    const off = run(['serve', '--host', '127.0.0.1', '--port', '0', '--mapping-port', 'off'], tempDir())
    expect((await listening(off) as unknown as { mappingPort: number | null }).mappingPort).toBeNull()
    off.kill('SIGTERM')
  })

  it('prints usage with --help', async () => {
    const help = await exitOf(run(['--help'], tempDir()))
    expect(help.code).toBe(0)
    for (const command of ['serve', 'peer', 'expose', 'forward']) expect(help.stdout).toMatch(new RegExp(`^  punchline ${command} `, 'm'))
    expect(help.stdout).toContain('Exit codes: 0 success')
    const serve = await exitOf(run(['serve', '--help'], tempDir()))
    expect(serve.code).toBe(0)
    expect(serve.stdout).toContain('Usage: punchline serve [--host HOST] [--port PORT] [--db FILE]')
    expect(serve.stdout.replace(/\n {30}/g, ' ')).toContain('use 127.0.0.1 for this machine only (PUNCHLINE_HOST, default ::)')
    // Every subcommand's help has examples of that command and its exit codes.
    for (const command of ['serve', 'peer', 'expose', 'forward']) {
      const { code, stdout } = await exitOf(run([command, '--help'], tempDir()))
      expect(code).toBe(0)
      expect(stdout).toMatch(new RegExp(`Examples:\\n  (\\S+=\\S+ )?(echo hello \\| )?punchline ${command}\\b`))
      expect(stdout).toContain('Exit codes:')
    }
  })
})

describe('punchline peer', () => {
  it('lets two shells on one machine chat through a local server, exiting 0 once both directions have ended', async () => {
    const cwd = tempDir()
    const server = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const { url } = await listening(server)
    const common = ['peer', '--server', url, '--private='] // no LAN endpoints in tests: report none
    const bob = run([...common, '--id', 'bob'], cwd)
    const bobExit = exitOf(bob)
    await new Promise<void>((resolve) => {
      let seen = ''
      bob.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        if (seen.includes('registered as bob')) resolve()
      })
    })
    const alice = run([...common, '--id', 'alice', '--connect', 'bob', '--json'], cwd)
    const aliceExit = exitOf(alice)
    alice.stdin.end('hello from alice\n')
    bob.stdin.end('hello from bob\n')
    const [a, b] = await Promise.all([aliceExit, bobExit])
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    expect(b.stdout).toBe('hello from alice\n')
    expect(a.stdout).toBe('hello from bob\n')
    // Human progress for bob, one JSON object per line for alice.
    expect(b.stderr).toMatch(/punchline: connected to alice via (connect|accept) over the public path/)
    const events = a.stderr.trim().split('\n').map((line) => JSON.parse(line))
    expect(events.map((event) => event.event)).toEqual(expect.arrayContaining(['registered', 'introduced', 'dial', 'authenticated', 'connected', 'closed']))
    expect(events.find((event) => event.event === 'connected')).toMatchObject({ via: expect.stringMatching(/^(connect|accept)$/), path: 'public', elapsedMs: expect.any(Number), dials: expect.any(Number) })
    server.kill('SIGTERM')
  })

  it('exits 1 with a clear message when the target is unknown, and 2 on bad usage', async () => {
    const cwd = tempDir()
    const server = run(['serve', '--host', '127.0.0.1', '--port', '0'], cwd)
    const { url } = await listening(server)
    const unknown = await exitOf(run(['peer', '--server', url, '--connect', 'nobody', '--private='], cwd))
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('PUNCH_ERR_PEER_NOT_FOUND')
    const usage = await exitOf(run(['peer', '--connect', 'x'], cwd))
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--server URL is required')
    server.kill('SIGTERM')
  })
})
