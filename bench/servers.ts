// Starts and stops the benchmark servers (bench/server-process.ts) as child
// processes on loopback, and reads their memory and instrumentation.
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Pauses } from './pauses.js'

const SERVER_PROCESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server-process.ts')
/** BENCH_CPU_PROF=DIR: every benchmark server writes a CPU profile (node --cpu-prof) there when stopped. */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF
let nextPort = 18600

export interface BenchServer {
  url: string
  child: ChildProcess
  memory: () => Promise<{ rss: number, heapUsed: number }>
  /** CPU time used so far and RSS, without a GC; event-loop delay and the longest GC pause since the last call. */
  usage: () => Promise<{ cpuMs: number, rss: number } & Pauses>
  stop: () => Promise<void>
}

/**
 * A server in its own process; `database`: a postgresql:// URL, else a fresh SQLite file;
 * `settings`: buildApp options over the lifted limits.
 */
export async function startServer (kind: 'punchline' | 'hello', database?: string, settings: Record<string, unknown> = {}): Promise<BenchServer> {
  const port = nextPort++
  const dir = mkdtempSync(path.join(tmpdir(), 'punchline-bench-'))
  const child = fork(SERVER_PROCESS, [kind, String(port), database ?? path.join(dir, 'bench.db'), JSON.stringify(settings)], {
    execArgv: ['--expose-gc', '--conditions=@punchline/source', '--import', 'tsx', ...CPU_PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`]],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => { resolve() })
    child.once('exit', (code) => { reject(new Error(`${kind} server exited with ${String(code)}`)) })
  })
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    child,
    memory: async () => await (await fetch(`${url}/bench/memory`)).json() as { rss: number, heapUsed: number },
    usage: async () => await (await fetch(`${url}/bench/usage`)).json() as Awaited<ReturnType<BenchServer['usage']>>,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill(CPU_PROFILE_DIR === undefined ? 'SIGKILL' : 'SIGINT') // SIGINT lets --cpu-prof write its profile
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Registers `count` peers, `concurrency` at a time; returns their ids and tokens. */
export async function registerPeers (url: string, count: number, prefix: string, concurrency = 32): Promise<Array<{ id: string, token: string }>> {
  const peers: Array<{ id: string, token: string }> = []
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const id = `${prefix}${next++}`
      const response = await fetch(`${url}/v1/peers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, privateEndpoints: [{ address: '10.0.0.1', port: 4000 }], ttlSeconds: 3600 })
      })
      if (response.status !== 201) throw new Error(`register ${id}: ${response.status} ${await response.text()}`)
      peers.push(await response.json() as { id: string, token: string })
    }
  }))
  return peers
}
