// Identities across two real NATs, as users run the CLI. The takeover an
// attacker tried before ids were bound to keys: a stranger re-registers the
// exposed id every 50 ms while `punchline expose` restarts; the restarted
// expose keeps its id, the stranger only ever gets 409, and the forwarded
// clients' bytes reach the real service only. A pinned key that is not the
// peer's fails before anything but the handshake is sent. And a capture on
// NAT a's WAN link holds the application's bytes only when both sides turn
// encryption off. Needs root (and tcpdump for the capture); elsewhere the
// suites are skipped with the reason.
import { execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Lab, labUnavailable, twoNats } from '../../lab/lab.js'
import { REGISTER_WITH_KEY } from '../../lab/scripts.js'
import { watch } from '../../lab/trial.js'

const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (identity) skipped: ${unavailable}`)
const noTcpdump = ((): string | undefined => {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'it needs tcpdump (apt-get install tcpdump)'
  }
})()
if (unavailable === undefined && noTcpdump !== undefined) console.warn(`NAT laboratory (capture) skipped: ${noTcpdump}`)

const SERVICE_PORT = 7000
const STRANGER_SERVICE_PORT = 7100
const FORWARD_PORT = 2222
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

// A service that prints every line it receives (as JSON, one per line) and answers "ok".
const RECORDING_SERVICE = (port: number): string => `require('net').createServer((s) => {
  s.on('error', () => {})
  require('readline').createInterface({ input: s }).on('line', (line) => { console.log(JSON.stringify({ line })); s.end('ok\\n') })
}).listen(${port}, '127.0.0.1', () => console.log(JSON.stringify({ listening: ${port} })))`

// A client of the forwarded port: sends one line, prints what comes back.
const CLIENT = (line: string): string => `const s = require('net').connect(${FORWARD_PORT}, '127.0.0.1')
let answer = ''
s.on('data', (chunk) => { answer += chunk })
s.on('close', () => console.log(JSON.stringify({ answer })))
s.on('error', (error) => console.log(JSON.stringify({ error: error.code })))
s.write(${JSON.stringify(line)} + '\\n')`

// A stranger that knows the id: registers "home" with a key of its own every 50 ms (as the SDK does:
// a challenge, then the signed registration), and counts the answers by status.
const STRANGER = (server: string): string => `${REGISTER_WITH_KEY}
const counts = {}
setInterval(() => console.log(JSON.stringify(counts)), 250)
setInterval(() => {
  registerWithKey('${server}', { id: 'home', privateEndpoints: [] }).then(
    ({ status }) => { counts[status] = (counts[status] ?? 0) + 1 },
    (error) => { counts[error.code ?? 'error'] = (counts[error.code ?? 'error'] ?? 0) + 1 })
}, 50)`

/** Every JSON line a process printed so far, parsed. */
function lines (child: ReturnType<Lab['spawn']>): () => Array<Record<string, any>> {
  const seen: Array<Record<string, any>> = []
  createInterface({ input: child.stdout! }).on('line', (line) => { try { seen.push(JSON.parse(line)) } catch { /* not ours */ } })
  return () => seen
}

async function untilLine (read: () => Array<Record<string, any>>, test: (line: Record<string, any>) => boolean, what: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const found = read().find(test)
    if (found !== undefined) return found
    if (performance.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(read().slice(-5))}`)
    await sleep(50)
  }
}

async function forwardOnce (lab: Lab, line: string): Promise<Record<string, any>> {
  const read = lines(lab.spawn('host-b', process.execPath, ['-e', CLIENT(line)]))
  return await untilLine(read, () => true, `answer to "${line}"`, 30_000)
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: identities', () => {
  it('keeps an exposed id through a restart while a stranger re-registers it every 50 ms; a wrong pinned key fails before any byte', async () => {
    const lab = await Lab.create(twoNats('drop', 0))
    try {
      const service = lines(lab.spawn('host-a', process.execPath, ['-e', RECORDING_SERVICE(SERVICE_PORT)]))
      const strangerService = lines(lab.spawn('host-b', process.execPath, ['-e', RECORDING_SERVICE(STRANGER_SERVICE_PORT)]))
      await untilLine(service, (line) => line.listening !== undefined, 'service')
      await untilLine(strangerService, (line) => line.listening !== undefined, 'stranger\'s service')

      const laptopKey = execFileSync('ip', ['netns', 'exec', lab.namespace('host-b'), process.execPath, path.resolve('bin/punchline.js'), 'id'],
        { env: { ...process.env, XDG_CONFIG_HOME: lab.configDir('host-b') } }).toString().trim()
      const expose = (): ChildProcess => lab.punchline('host-a', ['expose', '--server', lab.serverUrl, '--id', 'home', '--to', `127.0.0.1:${SERVICE_PORT}`, '--allow', `laptop=${laptopKey}`, '--json'])
      let exposeProcess = expose()
      let exposed = watch(exposeProcess)
      await exposed.event('exposing')
      const forwarder = watch(lab.punchline('host-b', ['forward', '--server', lab.serverUrl, '--id', 'laptop', '--peer', 'home', '--listen', `127.0.0.1:${FORWARD_PORT}`, '--json']))
      await forwarder.event('listening')
      expect(await forwardOnce(lab, 'before the restart')).toEqual({ answer: 'ok\n' })

      // The stranger starts, then expose stops (deregistering) and comes back with the same identity file.
      const stranger = lines(lab.spawn('host-b', process.execPath, ['-e', STRANGER(lab.serverUrl)]))
      await untilLine(stranger, (counts) => (counts['409'] ?? 0) >= 5, 'stranger\'s 409s')
      exposeProcess.kill('SIGTERM')
      expect((await exposed.done).code).toBe(0)
      await sleep(1000) // the id is free of registrations now: the stranger keeps trying
      exposeProcess = expose()
      exposed = watch(exposeProcess)
      await exposed.event('exposing')
      await sleep(500)

      // The stranger also runs a whole `punchline expose --id home` with an identity of its own.
      const impostor = watch(lab.punchline('host-b', ['expose', '--server', lab.serverUrl, '--id', 'home', '--identity', path.join(lab.configDir('host-b'), 'stranger.pem'),
        '--to', `127.0.0.1:${STRANGER_SERVICE_PORT}`, '--allow', '*', '--json']))
      const impostorRun = await impostor.done
      expect(impostorRun.code).toBe(1)
      expect(JSON.stringify(impostorRun.events)).toContain('PUNCH_ERR_PEER_ID_RESERVED')

      expect(await forwardOnce(lab, 'after the restart')).toEqual({ answer: 'ok\n' })
      const counts = stranger().at(-1)!
      console.log(`stranger re-registering "home" every 50 ms across the restart: ${JSON.stringify(counts)}`)
      expect(Object.keys(counts).filter((status) => status !== '409')).toEqual([])
      expect(counts['409']).toBeGreaterThan(20)
      expect(service().filter((line) => line.line !== undefined).map((line) => line.line)).toEqual(['before the restart', 'after the restart'])
      expect(strangerService().filter((line) => line.line !== undefined)).toEqual([])

      // A forwarder pinned to another key than home's refuses the introduction before dialing, and says why.
      const wrongKey = randomBytes(32).toString('base64url')
      const pinned = await watch(lab.punchline('host-b', ['forward', '--server', lab.serverUrl, '--id', 'laptop2', '--peer', 'home', '--peer-key', wrongKey,
        '--listen', `127.0.0.1:${FORWARD_PORT + 1}`, '--json'])).done
      expect(pinned.code).toBe(1)
      expect(pinned.events.find((event) => event.event === 'error')).toMatchObject({ code: 'PUNCH_ERR_PEER_KEY_MISMATCH' })
      expect(pinned.events.filter((event) => event.event === 'dial')).toEqual([])
      expect(service().filter((line) => line.line !== undefined)).toHaveLength(2)
    } finally {
      await lab.destroy()
    }
  }, 180_000)
})

describe.skipIf(unavailable !== undefined || noTcpdump !== undefined)('NAT laboratory: what the path sees', () => {
  it.each([
    { encrypt: true, flags: [] as string[] },
    { encrypt: false, flags: ['--no-encrypt'] }
  ])('a capture on NAT a\'s WAN link during punchline peer holds the application\'s bytes: $encrypt === false', async ({ encrypt, flags }) => {
    const lab = await Lab.create(twoNats('drop', 0))
    const captures = mkdtempSync(path.join(tmpdir(), 'punchline-capture-'))
    try {
      const file = path.join(captures, 'wan.pcap')
      // --immediate-mode: each packet is handed over as it comes (not in kernel-buffered batches), -U: and written at once.
      const tcpdump = lab.spawn('nat-a', 'tcpdump', ['-i', 'wan', '-s', '0', '--immediate-mode', '-U', '-w', file, 'tcp'])
      let diagnostics = ''
      await new Promise<void>((resolve, reject) => {
        tcpdump.stderr!.on('data', (chunk: Buffer) => {
          diagnostics += chunk.toString()
          if (diagnostics.includes('listening on')) resolve()
        })
        tcpdump.once('exit', (code) => { reject(new Error(`tcpdump exited (${code}) before capturing: ${diagnostics}`)) })
      })
      const marker = `MARKER-${randomBytes(12).toString('hex')}`
      const common = ['peer', '--server', lab.serverUrl, '--json', ...flags]
      const bProcess = lab.punchline('host-b', [...common, '--id', 'b'])
      const b = watch(bProcess)
      await b.event('registered')
      const aProcess = lab.punchline('host-a', [...common, '--id', 'a', '--connect', 'b'])
      const a = watch(aProcess)
      const connected = await a.event('connected')
      expect(connected.encrypted).toBe(encrypt)
      aProcess.stdin!.end(`${marker} from a\n`)
      bProcess.stdin!.end(`${marker} from b\n`)
      const [aRun, bRun] = await Promise.all([a.done, b.done])
      expect(bRun.output.toString()).toBe(`${marker} from a\n`)
      expect(aRun.output.toString()).toBe(`${marker} from b\n`)
      await sleep(1000) // the last ACKs and FINs cross the link too
      const flushed = new Promise((resolve) => tcpdump.once('exit', resolve))
      tcpdump.kill('SIGINT')
      await flushed
      const capture = readFileSync(file)
      console.log(`capture on NAT a's WAN (${encrypt ? 'encrypted' : '--no-encrypt'}, ${connected.path as string} path): ${capture.length} bytes of pcap; marker found: ${capture.includes(marker)}; tcpdump: ${diagnostics.trim().replace(/\s+/g, ' ')}`)
      expect(capture.length).toBeGreaterThan(1000) // the capture saw the connection
      expect(capture.includes(marker)).toBe(!encrypt)
    } finally {
      await lab.destroy()
      rmSync(captures, { recursive: true, force: true })
    }
  }, 90_000)
})
