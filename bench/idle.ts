// Idle capacity: N registered peers, each holding a long-poll with wait=1 on
// its own connection and polling again the moment it returns (acknowledging
// its cursor, as the SDK does). Reports poll cycles a second, how late polls
// return (answer time minus the 1 s wait), failed polls, and the server's CPU
// and RSS over the measured window.
import { Client } from 'undici'
import { quantile } from '../lab/statistics.js'
import { registerPeers, startServer } from './servers.js'
import { watchPauses } from './pauses.js'

export const IDLE_PEERS = 4500
export const IDLE_WAIT_SECONDS = 1
/** Peers come online over this time (a few thousand connections at once would overrun the listen backlog); then the window starts. */
export const IDLE_WARM_UP_SECONDS = 10
export const IDLE_MEASURED_SECONDS = 20

export interface IdleResults {
  peers: number
  waitSeconds: number
  measuredSeconds: number
  cyclesPerSecond: number
  latenessP50Ms: number
  latenessP99Ms: number
  latenessMaxMs: number
  failedPolls: number
  /** Server CPU over the window, in cores (1.0: one core busy all the time). */
  serverCpuCores: number
  /** The server's event-loop delay over the window (p99, max) and its longest GC pause: how much of the lateness is the server's. */
  serverLoopDelayP99Ms: number
  serverLoopDelayMaxMs: number
  serverLongestGcMs: number
  /** The load generator (this process: every peer's client) over the window: its CPU in cores and its event-loop delay, which lateness includes too. */
  clientCpuCores: number
  clientLoopDelayP99Ms: number
  clientLoopDelayMaxMs: number
  /** Server RSS at the end of the window, and after a full GC. */
  serverRssBytes: number
  serverRssAfterGcBytes: number
}

export async function measureIdle (log: (line: string) => void, peers = IDLE_PEERS): Promise<IdleResults> {
  const server = await startServer('punchline')
  const clients: Client[] = []
  try {
    const registered = await registerPeers(server.url, peers, 'i', 64)
    let measuring = false
    let running = true
    let failed = 0
    const lateness: number[] = []
    const loops = registered.map(async (peer) => {
      const client = new Client(server.url, { pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 })
      clients.push(client)
      let cursor = 0
      // Peers come online at different moments over most of the warm-up.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * (IDLE_WARM_UP_SECONDS - 2) * 1000))
      while (running) {
        const started = performance.now()
        try {
          const response = await client.request({ method: 'GET', path: `/v1/peers/${peer.id}/inbox?wait=${IDLE_WAIT_SECONDS}&after=${cursor}`, headers: { authorization: `Bearer ${peer.token}` } })
          const inbox = await response.body.json() as { cursor: number }
          if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`)
          cursor = inbox.cursor
          if (measuring) lateness.push(performance.now() - started - IDLE_WAIT_SECONDS * 1000)
        } catch (error) {
          if (measuring && failed++ < 5) log(`idle: a poll failed: ${(error as Error).message}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
    })
    await new Promise((resolve) => setTimeout(resolve, IDLE_WARM_UP_SECONDS * 1000))
    const before = await server.usage()
    const client = watchPauses()
    const clientCpu = process.cpuUsage()
    const startedAt = performance.now()
    measuring = true
    await new Promise((resolve) => setTimeout(resolve, IDLE_MEASURED_SECONDS * 1000))
    measuring = false
    const elapsedSeconds = (performance.now() - startedAt) / 1000
    const clientCpuUsed = process.cpuUsage(clientCpu)
    const clientPauses = client.take()
    client.stop()
    const after = await server.usage()
    const collected = await server.memory()
    running = false
    await Promise.all(loops)
    lateness.sort((a, b) => a - b)
    const results: IdleResults = {
      peers,
      waitSeconds: IDLE_WAIT_SECONDS,
      measuredSeconds: IDLE_MEASURED_SECONDS,
      cyclesPerSecond: lateness.length / elapsedSeconds,
      latenessP50Ms: quantile(lateness, 0.5),
      latenessP99Ms: quantile(lateness, 0.99),
      latenessMaxMs: lateness.at(-1) ?? 0,
      failedPolls: failed,
      serverCpuCores: (after.cpuMs - before.cpuMs) / 1000 / elapsedSeconds,
      serverLoopDelayP99Ms: after.loopDelayP99Ms,
      serverLoopDelayMaxMs: after.loopDelayMaxMs,
      serverLongestGcMs: after.longestGcMs,
      clientCpuCores: (clientCpuUsed.user + clientCpuUsed.system) / 1e6 / elapsedSeconds,
      clientLoopDelayP99Ms: clientPauses.loopDelayP99Ms,
      clientLoopDelayMaxMs: clientPauses.loopDelayMaxMs,
      serverRssBytes: after.rss,
      serverRssAfterGcBytes: collected.rss
    }
    log(`idle: ${peers} peers, ${results.cyclesPerSecond.toFixed(0)} cycles/s, lateness p50 ${results.latenessP50Ms.toFixed(1)} ms p99 ${results.latenessP99Ms.toFixed(1)} ms, ${failed} failed, server ${results.serverCpuCores.toFixed(2)} cores, its event loop delayed p99 ${results.serverLoopDelayP99Ms.toFixed(1)} ms max ${results.serverLoopDelayMaxMs.toFixed(1)} ms, longest GC ${results.serverLongestGcMs.toFixed(1)} ms; client ${results.clientCpuCores.toFixed(2)} cores, its loop delayed p99 ${results.clientLoopDelayP99Ms.toFixed(1)} ms max ${results.clientLoopDelayMaxMs.toFixed(1)} ms; server RSS ${(results.serverRssBytes / 2 ** 20).toFixed(0)} MiB (${(results.serverRssAfterGcBytes / 2 ** 20).toFixed(0)} MiB after a GC)`)
    return results
  } finally {
    await Promise.all(clients.map(async (client) => { await client.destroy() }))
    await server.stop()
  }
}
