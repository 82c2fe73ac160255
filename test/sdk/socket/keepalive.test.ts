// TCP keepalive on what the SDK hands out: probes on idle connections (seen
// in the kernel's own socket table), the typed end of a dead path (a real
// DROP rule on loopback), and the warnings for settings that leave a
// connection silent for too long.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidOptionError, Peer, PathDeadError, type PeerEvent, type PunchedConnection } from '../../../sdk/index.js'
import { deadPathBoundMs, idleGapWarnings, keepAlive } from '../../../sdk/socket/keepalive.js'
import { RendezvousProcess } from '../../../lab/rendezvous-process.js'

/**
 * The keepalive timer of the established TCP connection between two local
 * ports, as `ss` shows it ("1min29sec", "19sec"; under 10 s it prints an odd
 * "2.984ms", so the test uses longer times): ms until the next probe.
 */
async function keepaliveTimerMs (socket: Socket): Promise<number | undefined> {
  const filter = `( sport = :${socket.localPort!} and dport = :${socket.remotePort!} )`
  // Bytes still unacknowledged (TLS's last flight, say) show the retransmission timer instead: wait until idle.
  let line = ''
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    line = execFileSync('ss', ['-tnoH', 'state', 'established', filter], { encoding: 'utf8' })
    if (!line.includes('timer:(on')) break
  }
  expect(line, 'the connection went idle').not.toContain('timer:(on')
  const match = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+)sec)?/.exec(line)
  if (match === null) return undefined
  return Number(match[1] ?? 0) * 60_000 + Number(match[2] ?? 0) * 1000
}

function iptablesUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for an iptables DROP rule'
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' })
  } catch {
    return 'needs iptables (apt-get install iptables)'
  }
  return undefined
}

describe('punched connections keep their mappings alive', () => {
  let rendezvous: RendezvousProcess
  beforeAll(async () => { rendezvous = await RendezvousProcess.start() })
  afterAll(async () => { await rendezvous.destroy() })

  async function pair (keepAliveMs: number): Promise<{ outgoing: PunchedConnection, incoming: PunchedConnection, close: () => Promise<void> }> {
    const suffix = Math.random().toString(36).slice(2, 8)
    const options = { server: rendezvous.url, localAddress: '127.0.0.1', privateEndpoints: [], keepAliveMs }
    const bob = await Peer.open({ ...options, id: `bob-${suffix}` })
    const alice = await Peer.open({ ...options, id: `alice-${suffix}` })
    const accepted = once(bob, 'connection') as Promise<[PunchedConnection]>
    const outgoing = await alice.connect(bob.id)
    const [incoming] = await accepted
    return { outgoing, incoming, close: async () => { await Promise.all([alice.close(), bob.close()]) } }
  }

  it('probes both ends of an idle connection after keepAliveMs, and neither when it is 0', async () => {
    const on = await pair(20_000)
    try {
      for (const { socket } of [on.outgoing, on.incoming]) {
        const timer = await keepaliveTimerMs(socket)
        expect(timer, `keepalive timer of ${socket.localPort!}`).toBeDefined()
        // The system's default idle time is 2 h: anything this short is ours.
        expect(timer!).toBeGreaterThan(10_000)
        expect(timer!).toBeLessThanOrEqual(20_000)
      }
    } finally {
      await on.close()
    }
    const off = await pair(0)
    try {
      expect(await keepaliveTimerMs(off.outgoing.socket)).toBeUndefined()
      expect(await keepaliveTimerMs(off.incoming.socket)).toBeUndefined()
    } finally {
      await off.close()
    }
  })

  it('refuses a keepAliveMs the kernel cannot take', async () => {
    await expect(Peer.open({ server: rendezvous.url, keepAliveMs: 500 })).rejects.toBeInstanceOf(InvalidOptionError)
    await expect(Peer.open({ server: rendezvous.url, keepAliveMs: -1 })).rejects.toThrow(/keepAliveMs must be 0 \(off\) or an integer of at least 1000/)
  })

  it('warns, from open() on, when a setting leaves a connection silent longer than NATs remember it', async () => {
    expect(idleGapWarnings({ pollWaitSeconds: 25, keepAliveMs: 25_000 })).toEqual([])
    expect(idleGapWarnings({ pollWaitSeconds: 60, keepAliveMs: 20_000 })).toEqual([]) // probes cover the long poll
    expect(idleGapWarnings({ pollWaitSeconds: 60, keepAliveMs: 0 }).map((warning) => [warning.connection, warning.idleGapMs])).toEqual([['server', 60_000]])
    expect(idleGapWarnings({ pollWaitSeconds: 25, keepAliveMs: 120_000 }).map((warning) => [warning.connection, warning.idleGapMs])).toEqual([['punched', 120_000]])
    const events: PeerEvent[] = []
    const peer = await Peer.open({ server: rendezvous.url, localAddress: '127.0.0.1', privateEndpoints: [], pollWaitSeconds: 60, keepAliveMs: 0, onTrace: (event) => events.push(event) })
    await peer.close()
    expect(events[0]).toMatchObject({ type: 'idle-gap-warning', connection: 'server', idleGapMs: 60_000 })
    expect(events[1]).toMatchObject({ type: 'registered' })
  })
})

describe.skipIf(iptablesUnavailable() !== undefined)('a dead path', () => {
  it('ends an idle connection with PathDeadError within keepAliveMs + 10 s of the cut', async () => {
    const server = createServer((socket) => { socket.on('error', () => {}) }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    const client = connect(port, '127.0.0.1')
    await once(client, 'connect')
    keepAlive(client, 1000)
    const rule = ['INPUT', '-i', 'lo', '-p', 'tcp', '--dport', String(port), '-j', 'DROP']
    execFileSync('iptables', ['-I', ...rule])
    try {
      const cut = performance.now()
      const [error] = await once(client, 'error') as [Error]
      const afterMs = performance.now() - cut
      expect(error).toBeInstanceOf(PathDeadError)
      expect(error).toMatchObject({ code: 'PUNCH_ERR_PATH_DEAD', cause: { code: 'ETIMEDOUT' } })
      expect(error.message).toMatch(new RegExp(`path to 127\\.0\\.0\\.1:${port} is dead`))
      expect(afterMs).toBeLessThan(deadPathBoundMs(1000) + 2000)
      expect(client.destroyed).toBe(true)
    } finally {
      execFileSync('iptables', ['-D', ...rule])
      server.close()
    }
  }, 30_000)

  it('leaves every other error as it was', async () => {
    const server = createServer((socket: Socket) => { socket.resetAndDestroy() }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
    keepAlive(client, 1000)
    const [error] = await once(client, 'error') as [NodeJS.ErrnoException]
    expect(error).not.toBeInstanceOf(PathDeadError)
    expect(error.code).toBe('ECONNRESET')
    server.close()
  })
})
