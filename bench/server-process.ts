// A server for the benchmarks, in its own process: either punchline's app
// (exactly as `punchline serve` builds it) or a bare Fastify hello-world, the
// baseline served the same way. Bench-only instrumentation is added around
// the app, never inside it: a memory report (after a full GC) and, for push
// latency, the high-resolution moment each introduction was stored.
// The database is a SQLite file or a postgresql:// URL, as for `punchline serve`.
//   node --expose-gc --import tsx bench/server-process.ts punchline|hello PORT DB [SETTINGS]
// SETTINGS: JSON of buildApp options over the lifted limits, e.g. {"maxRegistrationsPerAddress":10000000}.
import { performance } from 'node:perf_hooks'
import Fastify from 'fastify'
import { buildApp } from '../server/app.js'
import { LIMITS_LIFTED } from '../lab/limits-lifted.js'
import { watchPauses, type Pauses } from './pauses.js'

const [kind, port, databasePath, settings] = process.argv.slice(2)
const now = (): number => performance.timeOrigin + performance.now()

function memory (): { rss: number, heapUsed: number, heapTotal: number, external: number } {
  globalThis.gc?.()
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage()
  return { rss, heapUsed, heapTotal, external }
}

const pauses = watchPauses()

/** CPU time so far and RSS, without a GC: what the process costs while it runs; loop delay and GC since the last report. */
function usage (): { cpuMs: number, rss: number } & Pauses {
  const { user, system } = process.cpuUsage()
  return { cpuMs: (user + system) / 1000, rss: process.memoryUsage.rss(), ...pauses.take() }
}

if (kind === 'hello') {
  const app = Fastify({ logger: false })
  app.get('/hello', async () => ({ hello: 'world' }))
  app.get('/bench/memory', async () => memory())
  app.get('/bench/usage', async () => usage())
  await app.listen({ host: '127.0.0.1', port: Number(port) })
} else {
  // Every benchmark client comes from 127.0.0.1: the limits would measure themselves.
  const app = await buildApp({ databasePath: databasePath!, logger: false, ...LIMITS_LIFTED, ...JSON.parse(settings ?? '{}') as object })
  const storedAt = new Map<string, number>()
  const introduce = app.introductions.introduce.bind(app.introductions)
  app.introductions.introduce = async (...args) => {
    const row = await introduce(...args)
    storedAt.set(row.id, now())
    return row
  }
  app.get('/bench/memory', async () => memory())
  app.get('/bench/commits', async () => app.groupCommit.stats)
  app.get('/bench/usage', async () => usage())
  app.get('/bench/stored', async () => Object.fromEntries(storedAt))
  await app.listen({ host: '127.0.0.1', port: Number(port) })
}
process.on('SIGINT', () => { process.exit(0) }) // lets --cpu-prof write its profile
process.send?.('listening')
