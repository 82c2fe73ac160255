// PostgreSQL: register and introduce throughput with one instance and with
// two on one database (each its own process, connections split between
// them), and cross-instance push latency: polls held by instance 2, each
// introduction made through instance 1, timed from the moment instance 1
// stored it to the moment its poll answer arrived. The cluster is a throwaway
// one (lab/postgres.ts) with fsync and synchronous_commit on, as deployed.
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { PostgresCluster } from '../lab/postgres.js'
import { quantile } from '../lab/statistics.js'
import { registerPeers, startServer, type BenchServer } from './servers.js'
import { loadIntroduce, loadRegister, type Load } from './throughput.js'

export const CROSS_INSTANCE_POLLS = 500
export const CROSS_INSTANCE_INTRODUCTIONS = 500

export interface PostgresResults {
  instances: Array<{ count: number, register: Load & { ratioToHelloWorld: number }, introduce: Load & { ratioToHelloWorld: number, delivered: number } }>
  crossInstancePush: { heldPolls: number, introductions: number, latencyP50Ms: number, latencyP99Ms: number, latencyMaxMs: number }
}

const now = (): number => performance.timeOrigin + performance.now()

async function crossInstancePush (one: BenchServer, two: BenchServer): Promise<PostgresResults['crossInstancePush']> {
  const [initiator, ...targets] = await registerPeers(two.url, CROSS_INSTANCE_POLLS + 1, `x${Date.now()}-`)
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
  const arrived = new Map<string, number>()
  const { hostname, port } = new URL(two.url)
  const polls = targets.map((target) => {
    const poll = http.get({ hostname, port, agent, path: `/v1/peers/${target.id}/inbox?wait=60`, headers: { authorization: `Bearer ${target.token}` } }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => {
        const at = now()
        for (const introduction of (JSON.parse(body) as { introductions: Array<{ id: string }> }).introductions) arrived.set(introduction.id, at)
      })
    })
    poll.on('error', () => {})
    return poll
  })
  try {
    const deadline = Date.now() + 30_000
    while ((await (await fetch(`${two.url}/health`)).json() as { heldPolls: number }).heldPolls < targets.length) {
      if (Date.now() > deadline) throw new Error('the polls were not all held')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const ids: string[] = []
    for (const target of targets.slice(0, CROSS_INSTANCE_INTRODUCTIONS)) {
      const response = await fetch(`${one.url}/v1/introductions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${initiator!.token}` }, body: JSON.stringify({ target: target.id }) })
      if (response.status !== 201) throw new Error(`introduce: ${response.status}`)
      ids.push((await response.json() as { id: string }).id)
    }
    const until = Date.now() + 10_000
    while (ids.some((id) => !arrived.has(id)) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20))
    const stored = await (await fetch(`${one.url}/bench/stored`)).json() as Record<string, number>
    const latencies = ids.filter((id) => arrived.has(id)).map((id) => arrived.get(id)! - stored[id]!).sort((a, b) => a - b)
    if (latencies.length < ids.length) throw new Error(`${ids.length - latencies.length} introductions never reached their poll on the other instance`)
    return { heldPolls: targets.length, introductions: ids.length, latencyP50Ms: quantile(latencies, 0.5), latencyP99Ms: quantile(latencies, 0.99), latencyMaxMs: latencies.at(-1)! }
  } finally {
    for (const poll of polls) poll.destroy()
    agent.destroy()
  }
}

export async function measurePostgres (log: (line: string) => void, helloWorld: Load): Promise<PostgresResults | { skipped: string }> {
  const cluster = await PostgresCluster.start({ durable: true, maxConnections: 200 })
  if (typeof cluster === 'string') return { skipped: cluster }
  const servers: BenchServer[] = []
  try {
    const instances: PostgresResults['instances'] = []
    let crossInstance: PostgresResults['crossInstancePush'] | undefined
    for (const count of [1, 2]) {
      const database = await cluster.createDatabase(`bench_${count}`)
      for (let n = 0; n < count; n++) servers.push(await startServer('punchline', database))
      const urls = servers.map((server) => server.url)
      const register = await loadRegister(urls)
      const introduce = await loadIntroduce(urls)
      const ratio = (load: Load): number => load.requestsPerSecond / helloWorld.requestsPerSecond
      instances.push({ count, register: { ...register, ratioToHelloWorld: ratio(register) }, introduce: { ...introduce, ratioToHelloWorld: ratio(introduce) } })
      log(`PostgreSQL, ${count} instance(s): register ${register.requestsPerSecond.toFixed(0)} req/s, introduce ${introduce.requestsPerSecond.toFixed(0)} req/s (${introduce.delivered}/${introduce.requests2xx} delivered)`)
      if (count === 2) {
        crossInstance = await crossInstancePush(servers[0]!, servers[1]!)
        log(`PostgreSQL cross-instance push: p50 ${crossInstance.latencyP50Ms.toFixed(2)} ms, p99 ${crossInstance.latencyP99Ms.toFixed(2)} ms`)
      }
      for (const server of servers.splice(0)) await server.stop()
    }
    return { instances, crossInstancePush: crossInstance! }
  } finally {
    for (const server of servers) await server.stop()
    cluster.stop()
  }
}
