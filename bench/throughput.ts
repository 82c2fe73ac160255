// API throughput under autocannon, next to a bare Fastify hello-world served
// the same way (own process, loopback) in the same run: registrations, and
// introductions each delivered to a held long-poll.
import autocannon from 'autocannon'
import { Agent, request } from 'undici'
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
  introduce: Load & { ratioToHelloWorld: number, delivered: number, pollingTargets: number }
}

export async function measureThroughput (log: (line: string) => void): Promise<ThroughputResults> {
  const hello = await startServer('hello')
  const helloWorld = await load({ url: `${hello.url}/hello` }).finally(hello.stop)
  log(`hello-world: ${helloWorld.requestsPerSecond.toFixed(0)} req/s`)

  const server = await startServer('punchline')
  try {
    const register = await load({
      url: `${server.url}/v1/peers`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ privateEndpoints: [{ address: '10.0.0.1', port: 4000 }] })
    })
    log(`register: ${register.requestsPerSecond.toFixed(0)} req/s`)

    // Targets hold long-polls the whole time; every introduction must reach one.
    const [initiator, ...targets] = await registerPeers(server.url, POLLING_TARGETS + 1, 't')
    const delivered = new Set<string>()
    let polling = true
    const pollers = targets.map(async (target) => {
      const dispatcher = new Agent({ connections: 1 })
      let cursor = 0
      while (polling) {
        const response = await request(`${server.url}/v1/peers/${target.id}/inbox?after=${cursor}&wait=5`, { headers: { authorization: `Bearer ${target.token}` }, dispatcher })
        const inbox = await response.body.json() as { introductions: Array<{ id: string }>, cursor: number }
        cursor = inbox.cursor
        for (const introduction of inbox.introductions) delivered.add(introduction.id)
      }
      await dispatcher.close()
    })
    let turn = 0
    const introduce = await load({
      url: server.url,
      requests: [{
        method: 'POST',
        path: '/v1/introductions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${initiator!.token}` },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ target: targets[turn++ % targets.length]!.id }) })
      }]
    })
    const deadline = Date.now() + 30_000
    while (delivered.size < introduce.requests2xx && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    polling = false
    await Promise.all(pollers)
    log(`introduce: ${introduce.requestsPerSecond.toFixed(0)} req/s, ${delivered.size}/${introduce.requests2xx} delivered`)
    return {
      helloWorld,
      register: { ...register, ratioToHelloWorld: register.requestsPerSecond / helloWorld.requestsPerSecond },
      introduce: { ...introduce, ratioToHelloWorld: introduce.requestsPerSecond / helloWorld.requestsPerSecond, delivered: delivered.size, pollingTargets: targets.length }
    }
  } finally {
    await server.stop()
  }
}
