// Punched connections that outlast NAT idle timeouts. The routers forget an
// idle established connection after NAT_TIMEOUT_S and pick up no connection
// mid-stream (nf_conntrack_tcp_loose=0, as most routers behave), so a
// connection silent for longer dies. With TCP keepalive every byte gets
// through a pause of more than twice the timeout; without it the second half
// never arrives; and when a router cuts the path, both ends learn it within
// keepalive + 10 s. Needs root; elsewhere the suite is skipped with the reason.
import { createHash, randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Lab, labUnavailable, twoNats } from '../../lab/lab.js'
import { watch } from '../../lab/trial.js'
import { deadPathBoundMs } from '../../sdk/socket/keepalive.js'

const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (keepalive) skipped: ${unavailable}`)

const NAT_TIMEOUT_S = 6
const KEEPALIVE_S = 2
const PAUSE_MS = 2 * NAT_TIMEOUT_S * 1000 + 2000
const HALF_BYTES = 128 * 1024
/** How long the test waits for a second half that a dead connection will never deliver. */
const STRANDED_MS = 8000
/** How long `punchline peer` may take to exit once it reported the dead path. */
const EXIT_BOUND_MS = 60_000
const SDK_PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'sdk-peer.mjs')

/** Two dropping NATs that forget idle connections after NAT_TIMEOUT_S and never pick one up mid-stream. */
async function strictLab (): Promise<Lab> {
  const lab = await Lab.create(twoNats('drop', 0))
  for (const router of ['nat-a', 'nat-b']) {
    lab.run(router, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_tcp_timeout_established=${NAT_TIMEOUT_S}`, 'net.netfilter.nf_conntrack_tcp_loose=0'])
  }
  return lab
}

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex')
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Packets host-a sent to NAT b's public address through NAT a, and received from it: the punched connection's. */
function punchedPackets (lab: Lab): { out: number, in: number } {
  const listing = lab.run('nat-a', 'iptables', ['-L', 'FORWARD', '-v', '-x', '-n'])
  const count = (comment: string): number => Number(new RegExp(`^\\s*(\\d+)\\s+\\d+.*/\\* ${comment} \\*/`, 'm').exec(listing)?.[1] ?? NaN)
  return { out: count('punched-out'), in: count('punched-in') }
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: keepalives', () => {
  it.each([
    { keepalive: String(KEEPALIVE_S), delivered: true },
    { keepalive: '0', delivered: false }
  ])(`punchline peer with --keepalive $keepalive: a ${PAUSE_MS / 1000} s pause behind NATs that forget idle connections after ${NAT_TIMEOUT_S} s delivers the rest: $delivered`, async ({ keepalive, delivered }) => {
    const lab = await strictLab()
    try {
      for (const [direction, match] of [['out', ['-s', '10.0.1.2', '-d', '100.64.2.2']], ['in', ['-s', '100.64.2.2', '-d', '10.0.1.2']]] as const) {
        lab.run('nat-a', 'iptables', ['-I', 'FORWARD', '-p', 'tcp', ...match, '-m', 'comment', '--comment', `punched-${direction}`])
      }
      const common = ['peer', '--server', lab.serverUrl, '--json', '--keepalive', keepalive]
      const b = lab.punchline('host-b', [...common, '--id', 'b'])
      const bWatch = watch(b)
      await bWatch.event('registered')
      const a = lab.punchline('host-a', [...common, '--id', 'a', '--connect', 'b'])
      const aWatch = watch(a)
      const data = { a: randomBytes(2 * HALF_BYTES), b: randomBytes(2 * HALF_BYTES) }
      a.stdin!.write(data.a.subarray(0, HALF_BYTES))
      b.stdin!.write(data.b.subarray(0, HALF_BYTES))
      await Promise.all([aWatch.event('connected'), bWatch.event('connected')])
      while (aWatch.received() < HALF_BYTES || bWatch.received() < HALF_BYTES) await sleep(50)

      const before = punchedPackets(lab)
      await sleep(PAUSE_MS)
      const idle = punchedPackets(lab)
      const perMinute = { out: (idle.out - before.out) * 60_000 / PAUSE_MS, in: (idle.in - before.in) * 60_000 / PAUSE_MS }
      console.log(`--keepalive ${keepalive}: idle for ${PAUSE_MS} ms, host-a sent ${idle.out - before.out} and got ${idle.in - before.in} packets on the punched connection (${perMinute.out.toFixed(1)} + ${perMinute.in.toFixed(1)} a minute)`)

      a.stdin!.end(data.a.subarray(HALF_BYTES))
      b.stdin!.end(data.b.subarray(HALF_BYTES))
      if (delivered) {
        const [aRun, bRun] = await Promise.all([aWatch.done, bWatch.done])
        expect([aRun.code, bRun.code]).toEqual([0, 0])
        expect(sha256(bRun.output)).toBe(sha256(data.a))
        expect(sha256(aRun.output)).toBe(sha256(data.b))
        // Keepalive probes crossed the NAT while idle, each answered: about one per KEEPALIVE_S, never a flood.
        const probes = PAUSE_MS / (KEEPALIVE_S * 1000)
        expect(idle.out - before.out).toBeGreaterThanOrEqual(probes / 2)
        expect(idle.out - before.out + idle.in - before.in).toBeLessThanOrEqual(4 * (probes + 1))
      } else {
        await sleep(STRANDED_MS)
        expect(aWatch.received()).toBe(HALF_BYTES)
        expect(bWatch.received()).toBe(HALF_BYTES)
        expect(idle.out - before.out).toBe(0) // nothing kept the mappings alive
      }
    } finally {
      await lab.destroy()
    }
  }, 90_000)

  it(`ends both ends with PUNCH_ERR_PATH_DEAD within keepalive + 10 s when a router cuts the path (punchline peer and an SDK socket)`, async () => {
    const started = performance.now()
    // Each step is logged as it is reached: if the test times out after all, its output says where.
    const step = (name: string): void => { console.log(`path cut test: ${name} after ${Math.round(performance.now() - started)} ms`) }
    const lab = await strictLab()
    step('lab up')
    try {
      const b = watch(lab.spawn('host-b', process.execPath, [SDK_PEER, lab.serverUrl, 'b', String(KEEPALIVE_S * 1000)]))
      // Each step bounded, so that a step that never comes fails with both sides' latest events.
      await b.event('registered', 20_000)
      step('B registered')
      const aProcess = lab.punchline('host-a', ['peer', '--server', lab.serverUrl, '--json', '--keepalive', String(KEEPALIVE_S), '--id', 'a', '--connect', 'b'])
      const a = watch(aProcess)
      await Promise.all([a.event('connected', 20_000), b.event('connected', 20_000)])
      step('both connected')
      await sleep(1000)
      lab.run('nat-a', 'iptables', ['-I', 'FORWARD', '-j', 'DROP'])
      const cut = performance.now()
      const within = deadPathBoundMs(KEEPALIVE_S * 1000) + 20_000
      const [aError, bError] = await Promise.all([a.event('error', within), b.event('error', within)])
      const afterMs = performance.now() - cut
      step('both learned of the cut')
      expect(aError).toMatchObject({ code: 'PUNCH_ERR_PATH_DEAD', message: expect.stringMatching(/is dead/) })
      expect(bError).toMatchObject({ name: 'PathDeadError', code: 'PUNCH_ERR_PATH_DEAD', pathDead: true })
      // This bound found a bug: a poll retried on the cut path left a SYN to the server unanswered, and our undici
      // connector had no connect timeout, so the closed peer lived on for the kernel's ~2 minutes of SYN retries.
      // Now SERVER_CONNECT_TIMEOUT_MS (10 s) bounds such a connect, and Peer.close() ends one under way at once.
      const exited = await Promise.race([a.done, sleep(EXIT_BOUND_MS).then(() => undefined)])
      step('A exited')
      if (exited === undefined) throw new Error(`punchline peer did not exit within ${EXIT_BOUND_MS} ms of its error: ${a.story()}`)
      expect(exited.code).toBe(1)
      console.log(`path cut: both ends knew after ${Math.round(afterMs)} ms (bound ${deadPathBoundMs(KEEPALIVE_S * 1000)} ms)`)
      expect(afterMs).toBeLessThan(deadPathBoundMs(KEEPALIVE_S * 1000) + 3000)
    } finally {
      await lab.destroy()
      step('lab down')
    }
  }, 150_000) // more than the bounded steps add up to (~120 s), so that a bound, with its story, fails first
})
