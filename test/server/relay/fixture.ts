// The relay tests' server: the app on a fresh database, listening on
// loopback (upgrades need real sockets; HTTPS when given a certificate),
// three registered peers, and introductions (these through app.inject: the
// relay is the subject, not how peers got there).
import type { FastifyInstance } from 'fastify'
import { afterEach } from 'vitest'
import type { AppOptions } from '../../../server/app.js'
import { LIMITS_LIFTED } from '../../../lab/limits-lifted.js'
import { bearer, buildTestApp, listenOnLoopback, register, type RegisteredPeer } from '../../helpers.js'

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

/** A server (closed after the test) on `options`, the abuse limits lifted unless given (the relay's too: each bound is given by the test that attacks it). */
export async function relayServer (options: Partial<AppOptions> = {}): Promise<RelayFixture> {
  const app = await buildTestApp({ ...LIMITS_LIFTED, ...options })
  apps.push(app)
  const plain = await listenOnLoopback(app)
  const url = options.https !== undefined ? plain.replace(/^http:/, 'https:') : plain
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map(async (id, n) => await register(app, { id, ttlSeconds: 3600 }, 40000 + n)))
  const introduce = async (from: RegisteredPeer, target: RegisteredPeer): Promise<string> => {
    const response = await app.inject({ method: 'POST', url: '/v1/introductions', headers: bearer(from), payload: { target: target.id } })
    if (response.statusCode !== 201) throw new Error(`introduce failed: ${response.statusCode} ${response.body}`)
    return response.json<{ id: string }>().id
  }
  const metrics = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics' })).body
  return { app, url, alice: alice!, bob: bob!, carol: carol!, introduce, metrics }
}

/** The value of one sample of a Prometheus text, 0 when absent. */
export function sample (text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? 0 : Number(line.slice(name.length + 1))
}
