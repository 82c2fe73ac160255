// The relay tests' server: the app on a fresh database, listening on
// loopback (upgrades need real sockets), three registered peers, and
// introductions made over HTTP.
import type { FastifyInstance } from 'fastify'
import { afterEach } from 'vitest'
import type { AppOptions } from '../../../server/app.js'
import { LIMITS_LIFTED } from '../../../lab/limits-lifted.js'
import { buildTestApp, listenOnLoopback, registerOverHttp, type RegisteredPeer } from '../../helpers.js'

export interface RelayFixture {
  app: FastifyInstance
  url: string
  alice: RegisteredPeer
  bob: RegisteredPeer
  carol: RegisteredPeer
  /** A new introduction of `from` to `target`: its id. */
  introduce: (from: RegisteredPeer, target: RegisteredPeer) => Promise<string>
  /** The Prometheus text of /metrics. */
  metrics: () => Promise<string>
}

const apps: FastifyInstance[] = []
afterEach(async () => { await Promise.all(apps.splice(0).map(async (app) => { await app.close() })) })

/** A server (closed after the test) on `options`, the request-rate limits lifted unless given. */
export async function relayServer (options: Partial<AppOptions> = {}): Promise<RelayFixture> {
  const app = await buildTestApp({ ...LIMITS_LIFTED, ...options })
  apps.push(app)
  const url = await listenOnLoopback(app)
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (id) => await registerOverHttp(url, { id, ttlSeconds: 3600 })))
  const introduce = async (from: RegisteredPeer, target: RegisteredPeer): Promise<string> => {
    const response = await fetch(`${url}/v1/introductions`, { method: 'POST', headers: { authorization: `Bearer ${from.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: target.id }) })
    if (response.status !== 201) throw new Error(`introduce failed: ${response.status} ${await response.text()}`)
    return (await response.json() as { id: string }).id
  }
  const metrics = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics' })).body
  return { app, url, alice: alice!, bob: bob!, carol: carol!, introduce, metrics }
}

/** The value of one sample of a Prometheus text, 0 when absent. */
export function sample (text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? 0 : Number(line.slice(name.length + 1))
}
