// A rendezvous server in its own process, started as users start it: the
// built `punchline serve` on a SQLite file, found by the URL it logs. The SDK
// and CLI tests talk to it over real HTTP, the NAT laboratory runs it in its
// server namespace. It can be stopped, killed and started again on the same
// port, with the same database or a new one.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The repository: the built `punchline` command is run from it. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const BIN = path.join(ROOT, 'bin', 'punchline.js')
/**
 * The Node that runs the server: the test's own by default. The Node-version
 * matrix runs SDK tests on other versions against a server on the machine's
 * Node, whose native SQLite driver was built for it.
 */
export const SERVER_NODE = process.env.PUNCHLINE_SERVER_NODE ?? process.execPath
/** A server that has not logged its URL by then is not going to. */
const START_TIMEOUT_MS = 20_000

export interface RendezvousOptions {
  host?: string
  /** 0 (default): any free port. */
  port?: number
  databasePath?: string
  /** More `punchline serve` flags. */
  flags?: string[]
  /** How to start a program, e.g. inside a network namespace. */
  spawn?: (command: string, args: string[]) => ChildProcess
}

const running = new Set<ChildProcess>()
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

export class RendezvousProcess {
  readonly #options: RendezvousOptions
  readonly #dataDir: string
  #child: ChildProcess
  databasePath: string
  port: number
  url: string

  static async start (options: RendezvousOptions = {}): Promise<RendezvousProcess> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'punchline-rendezvous-'))
    const databasePath = options.databasePath ?? path.join(dataDir, 'punchline.db')
    const { child, port } = await launch(options, databasePath, options.port ?? 0)
    return new RendezvousProcess(options, dataDir, child, databasePath, port)
  }

  private constructor (options: RendezvousOptions, dataDir: string, child: ChildProcess, databasePath: string, port: number) {
    this.#options = options
    this.#dataDir = dataDir
    this.#child = child
    this.databasePath = databasePath
    this.port = port
    this.url = urlOf(options.host, port)
  }

  get pid (): number | undefined {
    return this.#child.pid
  }

  /** Stops the server (SIGTERM: graceful; SIGKILL: a crash) and waits for it to exit. */
  async stop (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.kill(signal)
    return await exited
  }

  /** Starts it again on the same port: on the same database, or on a new, empty one. */
  async restart ({ freshDatabase = false }: { freshDatabase?: boolean } = {}): Promise<void> {
    await this.stop()
    if (freshDatabase) this.databasePath = path.join(mkdtempSync(path.join(this.#dataDir, 'fresh-')), 'punchline.db')
    this.#child = (await launch(this.#options, this.databasePath, this.port)).child
  }

  /** A Prometheus metric's value, read from /metrics. */
  async metric (name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text()
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
    if (line === undefined) throw new Error(`no metric ${name}`)
    return Number(line.split(' ')[1])
  }

  /** Stops it and removes its files. */
  async destroy (): Promise<void> {
    await this.stop('SIGKILL')
    rmSync(this.#dataDir, { recursive: true, force: true })
  }
}

function urlOf (host = '127.0.0.1', port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

async function launch (options: RendezvousOptions, databasePath: string, port: number): Promise<{ child: ChildProcess, port: number }> {
  const args = [BIN, 'serve', '--host', options.host ?? '127.0.0.1', '--port', String(port), '--db', databasePath, '--log-level', 'info', ...options.flags ?? []]
  const child = (options.spawn ?? ((command, rest) => spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] })))(SERVER_NODE, args)
  running.add(child)
  child.once('exit', () => running.delete(child))
  const listening = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => { resolve(undefined) }, START_TIMEOUT_MS)
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('punchline listening')) return
      clearTimeout(timer)
      resolve((JSON.parse(line) as { port: number }).port)
    })
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(undefined)
    })
  })
  if (listening === undefined) {
    child.kill('SIGKILL')
    throw new Error(`the rendezvous server did not start (${SERVER_NODE} ${args.join(' ')})`)
  }
  return { child, port: listening }
}
