// The security goals that are speeds (issue 11), each against a baseline
// measured in the same run:
//   - a flood of introductions (12 attacker ids, server limits lifted so that
//     the flood reaches the victim): a legitimate peer's connect() against
//     the same connect() unloaded, and the victim's event-loop delay;
//   - /health while the punch statistics are read, over a million stored
//     reports, against /health on an empty server.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { Agent, request } from 'undici'
import { Peer } from '../sdk/index.js'
import { openDatabase } from '../server/db/database.js'
import { liftedLimitFlags } from '../lab/limits-lifted.js'
import { RendezvousProcess } from '../lab/rendezvous-process.js'
import { quantile } from '../lab/statistics.js'

const ATTACKERS = 12
const CONNECTS = 7
const STORED_REPORTS = 1_000_000
const HEALTH_SAMPLES = 200

export interface SecurityResults {
  flood: { unloadedConnectMs: number, floodedConnectMs: number, ratio: number, eventLoopDelayP99Ms: number, eventLoopDelayMaxMs: number, introductions: number, mostPunchesAtOnce: number }
  statistics: { reports: number, loadSeconds: number, emptyHealthP99Ms: number, healthP99Ms: number, healthMaxMs: number, statsP50Ms: number }
}

const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b)

/** Median wall time of `count` connect() calls from a fresh peer to `target`. */
async function connectTimes (server: string, target: string, count: number, localAddress: string): Promise<number> {
  const times: number[] = []
  for (let n = 0; n < count; n++) {
    const peer = await Peer.open({ server, id: `legit-${n}-${Math.random().toString(36).slice(2, 8)}`, localAddress, privateEndpoints: [] })
    const started = performance.now()
    const { socket } = await peer.connect(target, { timeout: 20_000 })
    times.push(performance.now() - started)
    socket.destroy()
    await peer.close()
  }
  return quantile(sorted(times), 0.5)
}

async function measureFlood (log: (line: string) => void): Promise<SecurityResults['flood']> {
  const rendezvous = await RendezvousProcess.start({ flags: liftedLimitFlags() })
  const agent = new Agent({ connect: { localAddress: '127.0.0.2' } })
  let running = 0
  let mostPunchesAtOnce = 0
  const victim = await Peer.open({
    server: rendezvous.url,
    id: 'victim',
    localAddress: '127.0.0.1',
    privateEndpoints: [],
    punchTimeoutMs: 5000,
    onTrace: (event) => {
      if (event.type === 'introduced') mostPunchesAtOnce = Math.max(mostPunchesAtOnce, ++running)
      if (event.type === 'connected' || event.type === 'failed') running--
    }
  })
  try {
    const unloadedConnectMs = await connectTimes(rendezvous.url, 'victim', CONNECTS, '127.0.0.3')
    const post = async (pathname: string, body: unknown, token?: string): Promise<{ status: number, json: any }> => {
      const response = await request(`${rendezvous.url}${pathname}`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
      return { status: response.statusCode, json: await response.body.json() }
    }
    const tokens = await Promise.all(Array.from({ length: ATTACKERS }, async (_, n) => (await post('/v1/peers', { id: `attacker-${n}`, privateEndpoints: [] })).json.token as string))
    let flooding = true
    let introductions = 0
    const flood = Promise.all(tokens.map(async (token) => {
      while (flooding) {
        if ((await post('/v1/introductions', { target: 'victim' }, token)).status === 201) introductions++
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }))
    // Let the attackers' punches fail twice (5 s each) before the legitimate peers come.
    await new Promise((resolve) => setTimeout(resolve, 12_000))
    const delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
    const floodedConnectMs = await connectTimes(rendezvous.url, 'victim', CONNECTS, '127.0.0.3')
    delay.disable()
    flooding = false
    await flood
    const result = {
      unloadedConnectMs,
      floodedConnectMs,
      ratio: floodedConnectMs / unloadedConnectMs,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
      eventLoopDelayMaxMs: delay.max / 1e6,
      introductions,
      mostPunchesAtOnce
    }
    log(`flood: connect ${unloadedConnectMs.toFixed(0)} ms unloaded, ${floodedConnectMs.toFixed(0)} ms flooded (x${result.ratio.toFixed(2)}); event loop p99 ${result.eventLoopDelayP99Ms.toFixed(1)} ms; ${introductions} introductions, at most ${mostPunchesAtOnce} punches at once`)
    return result
  } finally {
    await victim.close()
    await agent.close()
    await rendezvous.destroy()
  }
}

/** /health latencies, while `alongside` runs. */
async function healthLatencies (url: string, alongside: () => Promise<void>): Promise<number[]> {
  const times: number[] = []
  let done = false
  const other = alongside().finally(() => { done = true })
  while (!done || times.length < HEALTH_SAMPLES) {
    const started = performance.now()
    await (await fetch(`${url}/health`)).arrayBuffer()
    times.push(performance.now() - started)
    if (times.length >= 10 * HEALTH_SAMPLES) break
  }
  await other
  return sorted(times)
}

async function measureStatistics (log: (line: string) => void): Promise<SecurityResults['statistics']> {
  const dir = mkdtempSync(path.join(tmpdir(), 'punchline-bench-stats-'))
  try {
    const databasePath = path.join(dir, 'punchline.db')
    const { prisma } = await openDatabase(databasePath)
    await prisma.$disconnect()
    const db = new Database(databasePath)
    const insert = db.prepare('INSERT INTO "PunchReport" ("introductionId", "peerId", "outcome", "via", "path", "elapsedMs", "dials", "errorCode", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
    const now = Date.now()
    db.transaction(() => {
      for (let n = 0; n < STORED_REPORTS; n++) {
        const failed = n % 5 === 0
        insert.run(`00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, 'p', failed ? 'failed' : 'connected', failed ? null : 'connect', failed ? null : 'public', (n * 7919) % 10_000, n % 300, failed ? 'PUNCH_ERR_PUNCH_TIMEOUT' : null, now - (n % 10_000) * 60_000)
      }
    })()
    db.close()
    const empty = await RendezvousProcess.start()
    const emptyHealth = await healthLatencies(empty.url, async () => {})
    await empty.destroy()

    const rendezvous = await RendezvousProcess.start({ databasePath })
    try {
      const started = performance.now()
      // The statistics are built in the background; /health is measured meanwhile too.
      const loading = await healthLatencies(rendezvous.url, async () => {
        while ((await fetch(`${rendezvous.url}/v1/stats/punches`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      })
      const loadSeconds = (performance.now() - started) / 1000
      const statsTimes: number[] = []
      const reading = await healthLatencies(rendezvous.url, async () => {
        for (let n = 0; n < 100; n++) {
          const begun = performance.now()
          await (await fetch(`${rendezvous.url}/v1/stats/punches?windowSeconds=604800`)).json()
          statsTimes.push(performance.now() - begun)
        }
      })
      const health = sorted([...loading, ...reading])
      const result = {
        reports: STORED_REPORTS,
        loadSeconds,
        emptyHealthP99Ms: quantile(emptyHealth, 0.99),
        healthP99Ms: quantile(health, 0.99),
        healthMaxMs: health.at(-1)!,
        statsP50Ms: quantile(sorted(statsTimes), 0.5)
      }
      log(`statistics over ${STORED_REPORTS} reports: built in ${loadSeconds.toFixed(1)} s; /health p99 ${result.healthP99Ms.toFixed(1)} ms (empty server ${result.emptyHealthP99Ms.toFixed(1)} ms), max ${result.healthMaxMs.toFixed(1)} ms; stats p50 ${result.statsP50Ms.toFixed(1)} ms`)
      return result
    } finally {
      await rendezvous.destroy()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function measureSecurity (log: (line: string) => void): Promise<SecurityResults> {
  return { flood: await measureFlood(log), statistics: await measureStatistics(log) }
}
