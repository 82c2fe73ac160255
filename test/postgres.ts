// A throwaway PostgreSQL cluster per test file (lab/postgres.ts), with a fresh
// database per app. Where PostgreSQL cannot be started, `skipReason` says why
// and the file's suites skip with that message instead of failing.
import { afterAll } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { PostgresCluster } from '../lab/postgres.js'
import { buildTestApp } from './helpers.js'
import type { AppOptions } from '../server/app.js'

export interface TestPostgres {
  cluster: PostgresCluster | undefined
  skipReason: string | undefined
  /** A new, empty database on the cluster; its URL. */
  database: () => Promise<string>
}

let databases = 0

export async function startTestPostgres (): Promise<TestPostgres> {
  const started = await PostgresCluster.start()
  if (typeof started === 'string') {
    console.warn(`PostgreSQL tests skipped: ${started}`)
    return { cluster: undefined, skipReason: started, database: async () => { throw new Error(started) } }
  }
  afterAll(() => { started.stop() })
  process.once('exit', () => { started.stop() })
  return { cluster: started, skipReason: undefined, database: async () => await started.createDatabase(`punchline_${process.pid}_${++databases}`) }
}

/** The app on a fresh PostgreSQL database (inject() helpers as buildTestApp). */
export async function buildPostgresApp (postgres: TestPostgres, options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  return await buildTestApp({ databasePath: await postgres.database(), ...options })
}
