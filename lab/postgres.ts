// A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temp
// folder, started with pg_ctl on a free loopback port, deleted on stop.
// PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

const DEBIAN_BIN_ROOT = '/usr/lib/postgresql'
const RUN_AS = 'postgres'

/** Folders where initdb and pg_ctl may be: Debian's versioned ones (newest first), then PATH. */
function binaryFolders (): string[] {
  const debian = existsSync(DEBIAN_BIN_ROOT)
    ? readdirSync(DEBIAN_BIN_ROOT).filter((version) => /^\d+$/.test(version)).sort((a, b) => Number(b) - Number(a)).map((version) => path.join(DEBIAN_BIN_ROOT, version, 'bin'))
    : []
  return [...debian, ...(process.env.PATH ?? '').split(':')]
}

function findBinaries (): { initdb: string, pgCtl: string } | string {
  for (const folder of binaryFolders()) {
    const initdb = path.join(folder, 'initdb')
    const pgCtl = path.join(folder, 'pg_ctl')
    if (existsSync(initdb) && existsSync(pgCtl)) return { initdb, pgCtl }
  }
  return 'no initdb/pg_ctl found (install Debian\'s "postgresql" package; .ci/run does)'
}

function uidOf (user: string): { uid: number, gid: number } | undefined {
  const result = spawnSync('id', ['-u', user], { encoding: 'utf8' })
  const group = spawnSync('id', ['-g', user], { encoding: 'utf8' })
  if (result.status !== 0 || group.status !== 0) return undefined
  return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

export interface PostgresOptions {
  /** fsync and synchronous_commit on (benchmarks); off by default, as no test crashes the OS. */
  durable?: boolean
  maxConnections?: number
}

export class PostgresCluster {
  readonly #dir: string
  readonly #pgCtl: string
  readonly #asUser: string[]
  readonly port: number
  #stopped = false

  /** A running cluster, or the reason none could be started (tests skip with it). */
  static async start (options: PostgresOptions = {}): Promise<PostgresCluster | string> {
    const binaries = findBinaries()
    if (typeof binaries === 'string') return binaries
    let asUser: string[] = []
    let owner: { uid: number, gid: number } | undefined
    if (process.getuid?.() === 0) {
      owner = uidOf(RUN_AS)
      if (owner === undefined) return `running as root and there is no "${RUN_AS}" user to run PostgreSQL as`
      asUser = ['runuser', '-u', RUN_AS, '--']
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'punchline-pg-'))
    chmodSync(dir, 0o755)
    if (owner !== undefined) chownSync(dir, owner.uid, owner.gid)
    const data = path.join(dir, 'data')
    const port = await freePort()
    const run = (file: string, args: string[]): void => {
      const [command, ...rest] = [...asUser, file, ...args]
      execFileSync(command!, rest, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
    }
    try {
      run(binaries.initdb, ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
      const durable = options.durable === true ? 'on' : 'off'
      const settings = [
        `-p ${port}`, '-c listen_addresses=127.0.0.1', `-k ${dir}`, `-c max_connections=${options.maxConnections ?? 100}`,
        `-c fsync=${durable}`, `-c synchronous_commit=${durable}`, `-c full_page_writes=${durable}`
      ].join(' ')
      run(binaries.pgCtl, ['-D', data, '-l', path.join(dir, 'log'), '-o', settings, '-w', '-t', '60', 'start'])
    } catch (error) {
      rmSync(dir, { recursive: true, force: true })
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim()
      return `PostgreSQL did not start: ${stderr !== undefined && stderr !== '' ? stderr : (error as Error).message}`
    }
    return new PostgresCluster(dir, binaries.pgCtl, asUser, port)
  }

  private constructor (dir: string, pgCtl: string, asUser: string[], port: number) {
    this.#dir = dir
    this.#pgCtl = pgCtl
    this.#asUser = asUser
    this.port = port
  }

  /** The URL of database `name` (created by `createDatabase`). */
  url (name = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${name}`
  }

  /** A new, empty database; returns its URL. */
  async createDatabase (name: string): Promise<string> {
    const { Client } = (await import('pg')).default
    const client = new Client({ connectionString: this.url() })
    await client.connect()
    try {
      await client.query(`CREATE DATABASE "${name}"`)
    } finally {
      await client.end()
    }
    return this.url(name)
  }

  /** Stops the server (immediate shutdown) and deletes the cluster; idempotent. */
  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    const [command, ...rest] = [...this.#asUser, this.#pgCtl, '-D', path.join(this.#dir, 'data'), '-m', 'immediate', '-w', 'stop']
    spawnSync(command!, rest, { stdio: 'ignore', timeout: 60_000 })
    rmSync(this.#dir, { recursive: true, force: true })
  }
}
