// API throughput under autocannon, next to a bare Fastify hello-world served
// the same way (own process, loopback) in the same run: registrations, and
// introductions each delivered to a held long-poll; on one instance or split
// over several (PostgreSQL, bench/postgres.ts).
import autocannon from 'autocannon'
import { Agent, request } from 'undici'
import { SETTINGS } from '../server/settings.js'
import { registerPeers, startServer } from './servers.js'

export const DURATION_SECONDS = 10
export const CONNECTIONS = 32
const POLLING_TARGETS = 64

export interface Load {
  requestsPerSecond: number
  latencyP50Ms: number
  latencyP99Ms: number
  requests2xx: number
  non2xx: number
  errors: number
}

async function load (options: autocannon.Options): Promise<Load> {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION_SECONDS, ...options })
  return {
    requestsPerSecond: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts
  }
}

export interface ThroughputResults {
  helloWorld: Load
  register: Load & { ratioToHelloWorld: number }
  /** Registrations with the per-address bound on (at its highest): each batch counts every live registration from 127.0.0.1. */
  registerCounting: Load & { ratioToHelloWorld: number, bound: number }
  introduce: Load & { ratioToHelloWorld: number, delivered: number, pollingTargets: number }
}

/** The sum of loads run at the same time (one per instance): rates add up, latencies are the worst. */
function combined (loads: Load[]): Load {
  return {
    requestsPerSecond: loads.reduce((sum, load) => sum + load.requestsPerSecond, 0),
    latencyP50Ms: Math.max(...loads.map((load) => load.latencyP50Ms)),
    latencyP99Ms: Math.max(...loads.map((load) => load.latencyP99Ms)),
    requests2xx: loads.reduce((sum, load) => sum + load.requests2xx, 0),
    non2xx: loads.reduce((sum, load) => sum + load.non2xx, 0),
    errors: loads.reduce((sum, load) => sum + load.errors, 0)
  }
}

/** Registrations, the connections split over `urls` (instances of one service). */
export async function loadRegister (urls: string[]): Promise<Load> {
  return combined(await Promise.all(urls.map(async (url) => await load({
    url: `${url}/v1/peers`,
    connections: CONNECTIONS / urls.length,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ privateEndpoints: [{ address: '10.0.0.1', port: 4000 }] })
  }))))
}

/**
 * Introductions, each delivered to a held long-poll: targets poll the
 * instances in turn, introductions are made through all of them.
 */
export async function loadIntroduce (urls: string[]): Promise<Load & { delivered: number, pollingTargets: number }> {
  const [initiator, ...targets] = await registerPeers(urls[0]!, POLLING_TARGETS + 1, `t${Date.now()}-`)
  const delivered = new Set<string>()
  let polling = true
  const pollers = targets.map(async (target, index) => {
    const url = urls[index % urls.length]!
    const dispatcher = new Agent({ connections: 1 })
    let cursor = 0
    while (polling) {
      const response = await request(`${url}/v1/peers/${target.id}/inbox?after=${cursor}&wait=5`, { headers: { authorization: `Bearer ${target.token}` }, dispatcher })
      const inbox = await response.body.json() as { introductions: Array<{ id: string }>, cursor: number }
      cursor = inbox.cursor
      for (const introduction of inbox.introductions) delivered.add(introduction.id)
    }
    await dispatcher.close()
  })
  let turn = 0
  const introduce = combined(await Promise.all(urls.map(async (url) => await load({
    url,
    connections: CONNECTIONS / urls.length,
    requests: [{
      method: 'POST',
      path: '/v1/introductions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${initiator!.token}` },
      setupRequest: (req) => ({ ...req, body: JSON.stringify({ target: targets[turn++ % targets.length]!.id }) })
    }]
  }))))
  const deadline = Date.now() + 30_000
  while (delivered.size < introduce.requests2xx && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  polling = false
  await Promise.all(pollers)
  return { ...introduce, delivered: delivered.size, pollingTargets: targets.length }
}

export async function measureHelloWorld (log: (line: string) => void): Promise<Load> {
  const hello = await startServer('hello')
  const helloWorld = await load({ url: `${hello.url}/hello` }).finally(hello.stop)
  log(`hello-world: ${helloWorld.requestsPerSecond.toFixed(0)} req/s`)
  return helloWorld
}

/** The per-address bound at its highest setting: never reached here, so every registration is counted and none refused. */
const COUNTING_BOUND = SETTINGS.maxRegistrationsPerAddress.max

/** Registrations on a fresh server whose per-address bound is on: what lifting it (0, LIMITS_LIFTED) saves the benchmark. */
async function measureRegisterCounting (): Promise<Load> {
  const server = await startServer('punchline', undefined, { maxRegistrationsPerAddress: COUNTING_BOUND })
  try {
    return await loadRegister([server.url])
  } finally {
    await server.stop()
  }
}

export async function measureThroughput (log: (line: string) => void, helloWorld: Load): Promise<ThroughputResults> {
  const server = await startServer('punchline')
  try {
    const register = await loadRegister([server.url])
    log(`register: ${register.requestsPerSecond.toFixed(0)} req/s`)
    const introduce = await loadIntroduce([server.url])
    log(`introduce: ${introduce.requestsPerSecond.toFixed(0)} req/s, ${introduce.delivered}/${introduce.requests2xx} delivered`)
    const registerCounting = await measureRegisterCounting()
    log(`register, the per-address bound counting: ${registerCounting.requestsPerSecond.toFixed(0)} req/s`)
    return {
      helloWorld,
      register: { ...register, ratioToHelloWorld: register.requestsPerSecond / helloWorld.requestsPerSecond },
      registerCounting: { ...registerCounting, ratioToHelloWorld: registerCounting.requestsPerSecond / helloWorld.requestsPerSecond, bound: COUNTING_BOUND },
      introduce: { ...introduce, ratioToHelloWorld: introduce.requestsPerSecond / helloWorld.requestsPerSecond }
    }
  } finally {
    await server.stop()
  }
}
