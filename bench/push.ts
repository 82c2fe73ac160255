// Push latency at scale: with N long-polls held at once, the time from the
// moment an introduction is stored (server clock, high resolution) to the
// moment its target's poll response arrives (client clock, same machine), and
// the server's memory per held poll: the slope of memory (after a full GC)
// against held polls as they are opened in tenths, fitted over the last eight
// tenths, so V8's heap headroom swinging at start-up does not count.
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { registerPeers, startServer } from './servers.js'
import { watchPauses } from './pauses.js'
import { quantile, slope } from '../lab/statistics.js'

export const SAMPLED_INTRODUCTIONS = 1000
const POLL_WAIT_SECONDS = 60
/** Polls are opened in this many steps, memory read after each. */
const STEPS = 10
/** The slope is fitted over the steps after these. */
const WARM_UP_STEPS = 2

export interface PushResults {
  heldPolls: number
  introductions: number
  latencyP50Ms: number
  latencyP99Ms: number
  latencyMaxMs: number
  /** While the introductions were made: the server's event-loop delay (p99, max) and longest GC pause, and this process's (the polls' client) longest GC pause. */
  serverLoopDelayP99Ms: number
  serverLoopDelayMaxMs: number
  serverLongestGcMs: number
  clientLongestGcMs: number
  rssPerPollBytes: number
  heapPerPollBytes: number
  /** Server memory after a full GC, as the polls were opened. */
  memory: Array<{ polls: number, rss: number, heapUsed: number }>
}

const now = (): number => performance.timeOrigin + performance.now()

async function heldPolls (url: string): Promise<number> {
  return (await (await fetch(`${url}/health`)).json() as { heldPolls: number }).heldPolls
}

export async function measurePush (count: number, log: (line: string) => void): Promise<PushResults> {
  const server = await startServer('punchline')
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
  const requests: http.ClientRequest[] = []
  try {
    const [initiator, ...targets] = await registerPeers(server.url, count + 1, 'p', 64)
    const samples: Array<{ polls: number, rss: number, heapUsed: number }> = []
    const step = count / STEPS

    // One held poll per target, each on its own connection; arrival times by introduction id.
    const arrived = new Map<string, number>()
    const { hostname, port } = new URL(server.url)
    for (let start = 0; start < targets.length; start += step) {
      for (const target of targets.slice(start, start + step)) {
        const poll = http.get({ hostname, port, agent, path: `/v1/peers/${target.id}/inbox?wait=${POLL_WAIT_SECONDS}`, headers: { authorization: `Bearer ${target.token}` } }, (response) => {
          let body = ''
          response.on('data', (chunk: Buffer) => { body += chunk.toString() })
          response.on('end', () => {
            const at = now()
            for (const introduction of (JSON.parse(body) as { introductions: Array<{ id: string }> }).introductions) arrived.set(introduction.id, at)
          })
        })
        poll.on('error', () => {})
        requests.push(poll)
      }
      const expected = Math.min(targets.length, start + step)
      const deadline = Date.now() + 30_000
      while (await heldPolls(server.url) < expected) {
        if (Date.now() > deadline) throw new Error(`only ${await heldPolls(server.url)} of ${expected} polls held`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      samples.push({ polls: expected, ...await server.memory() })
    }
    const fitted = samples.slice(WARM_UP_STEPS)
    const rssPerPoll = slope(fitted.map((sample) => [sample.polls, sample.rss]))
    const heapPerPoll = slope(fitted.map((sample) => [sample.polls, sample.heapUsed]))
    log(`${count} polls held: RSS ${(samples[0]!.rss / 2 ** 20).toFixed(1)} MiB at ${samples[0]!.polls} -> ${(samples.at(-1)!.rss / 2 ** 20).toFixed(1)} MiB at ${count}`)

    // Introductions one after another, to distinct targets, while all polls are held.
    const sample = targets.slice(0, Math.min(SAMPLED_INTRODUCTIONS, targets.length))
    await server.usage() // starts the server's loop-delay and GC window
    const client = watchPauses()
    const ids: string[] = []
    for (const target of sample) {
      const response = await fetch(`${server.url}/v1/introductions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${initiator!.token}` },
        body: JSON.stringify({ target: target.id })
      })
      if (response.status !== 201) throw new Error(`introduce: ${response.status}`)
      ids.push((await response.json() as { id: string }).id)
    }
    const deadline = Date.now() + 10_000
    while (ids.some((id) => !arrived.has(id)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const clientLongestGcMs = client.take().longestGcMs
    client.stop()
    const window = await server.usage()
    const stored = await (await fetch(`${server.url}/bench/stored`)).json() as Record<string, number>
    const latencies = ids.filter((id) => arrived.has(id)).map((id) => arrived.get(id)! - stored[id]!).sort((a, b) => a - b)
    if (latencies.length < ids.length) throw new Error(`${ids.length - latencies.length} introductions never reached their poll`)
    return {
      heldPolls: count,
      introductions: ids.length,
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      latencyMaxMs: latencies.at(-1)!,
      serverLoopDelayP99Ms: window.loopDelayP99Ms,
      serverLoopDelayMaxMs: window.loopDelayMaxMs,
      serverLongestGcMs: window.longestGcMs,
      clientLongestGcMs,
      rssPerPollBytes: rssPerPoll,
      heapPerPollBytes: heapPerPoll,
      memory: samples
    }
  } finally {
    for (const poll of requests) poll.destroy()
    agent.destroy()
    await server.stop()
  }
}
