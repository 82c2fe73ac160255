// The NAT laboratory: network namespaces wired into a small internet. An
// "inet" namespace routes between the rendezvous server and NAT routers
// (iptables MASQUERADE on their WAN side); hosts sit on each router's LAN
// bridge, or directly on the internet. WAN links are userspace wires
// (wire.py) that add one-way delay; everything else is veth.
//
//   srv 100.64.0.2 ── inet ──wire── nat-a (wan 100.64.1.2, lan 10.0.1.1/24) ── hosts
//                      │  └──wire── nat-b (wan 100.64.2.2, lan 10.0.2.1/24) ── hosts
//                      └── public hosts 100.64.1x.2
//
// Everything created is deleted by destroy(), and by an exit hook if the
// test process dies first; namespaces left by a run whose process is gone
// are deleted on the next create().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { BIN, ROOT, RendezvousProcess } from './rendezvous-process.js'

const WIRE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wire.py')
/** pl<pid of the test process>-<random>-<name>: a namespace whose process is gone is stale. */
const NAMESPACE_PATTERN = /^pl(\d+)-[0-9a-f]{4}-/
export const SERVER_ADDRESS = '100.64.0.2'
export const SERVER_PORT = 8080

export interface NatSpec {
  name: string
  /** What the router does with unsolicited inbound SYNs: answer with a reset (Linux default) or drop them. */
  unsolicited: 'reset' | 'drop'
  /**
   * How it maps ports: the same public port for every destination (MASQUERADE's default,
   * endpoint-independent), or a random one for every connection (--random-fully).
   */
  mapping?: 'endpoint-independent' | 'random'
  /** One-way delay of the WAN link, each direction. */
  delayMs: number
  /** Extra delay on frames from the rendezvous server to this NAT: its hosts learn of introductions late. */
  serverExtraDelayMs?: number
  /** LAN prefix, e.g. "10.0.1" (router at .1). */
  lan: string
}

export interface HostSpec {
  name: string
  /** The NAT it sits behind, or null for a host on the internet. */
  nat: string | null
  /** Its LAN address (behind a NAT); public hosts get one from 100.64.1x.0/24. */
  address?: string
}

export interface LabSpec {
  nats: NatSpec[]
  hosts: HostSpec[]
}

/**
 * host-a behind NAT a (LAN 10.0.1.0/24) and host-b behind NAT b (10.0.2.0/24).
 * `lateMs` delays the server's frames to NAT b; `mappingOfA` and `mappingOfB` set the NATs' port mappings.
 */
export function twoNats (unsolicited: NatSpec['unsolicited'], delayMs: number, { lateMs, mappingOfA, mappingOfB }: { lateMs?: number, mappingOfA?: NatSpec['mapping'], mappingOfB?: NatSpec['mapping'] } = {}): LabSpec {
  return {
    nats: [
      { name: 'a', unsolicited, delayMs, lan: '10.0.1', ...(mappingOfA !== undefined ? { mapping: mappingOfA } : {}) },
      { name: 'b', unsolicited, delayMs, lan: '10.0.2', ...(lateMs !== undefined ? { serverExtraDelayMs: lateMs } : {}), ...(mappingOfB !== undefined ? { mapping: mappingOfB } : {}) }
    ],
    hosts: [{ name: 'host-a', nat: 'a', address: '10.0.1.2' }, { name: 'host-b', nat: 'b', address: '10.0.2.2' }]
  }
}

const created = new Set<string>()
process.once('exit', () => { for (const namespace of created) deleteNamespace(namespace) })

function run (command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function deleteNamespace (namespace: string): void {
  try {
    run('ip', ['netns', 'del', namespace])
  } catch {}
  created.delete(namespace)
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Why the laboratory cannot run here, or undefined when it can. */
export function labUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'it needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'it needs root (network namespaces, iptables, TAP devices); CI runs it as root'
  if (!existsSync('/dev/net/tun')) return 'it needs /dev/net/tun for the WAN wires'
  for (const [tool, args] of [['ip', ['-V']], ['iptables', ['--version']], ['python3', ['--version']]] as const) {
    try {
      run(tool, [...args])
    } catch {
      return `it needs ${tool} (apt-get install iproute2 iptables python3)`
    }
  }
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) return 'it runs the built CLI: run "npm run build" first'
  return undefined
}

export class Lab {
  readonly prefix = `pl${process.pid}-${randomBytes(2).toString('hex')}-`
  readonly serverUrl = `http://${SERVER_ADDRESS}:${SERVER_PORT}`
  readonly #processes = new Set<ChildProcess>()
  readonly #hostAddresses = new Map<string, string>()
  readonly #dataDir = mkdtempSync(path.join(tmpdir(), 'punchline-lab-'))

  static async create (spec: LabSpec): Promise<Lab> {
    for (const name of run('ip', ['netns', 'list']).split('\n').map((line) => line.split(' ')[0]!)) {
      const owner = NAMESPACE_PATTERN.exec(name)?.[1]
      if (owner !== undefined && !isAlive(Number(owner))) deleteNamespace(name)
    }
    const lab = new Lab()
    try {
      await lab.#build(spec)
    } catch (error) {
      await lab.destroy()
      throw error
    }
    return lab
  }

  namespace (name: string): string {
    return `${this.prefix}${name}`
  }

  /** The address of a host: its LAN address behind a NAT, its public one otherwise. */
  addressOf (host: string): string {
    const address = this.#hostAddresses.get(host)
    if (address === undefined) throw new Error(`no host ${host}`)
    return address
  }

  #ns (name: string): string {
    const namespace = this.namespace(name)
    if (!created.has(namespace)) {
      run('ip', ['netns', 'add', namespace])
      created.add(namespace)
      this.#ip(name, 'link', 'set', 'lo', 'up')
    }
    return namespace
  }

  #ip (namespace: string, ...args: string[]): void {
    run('ip', ['-n', this.namespace(namespace), ...args])
  }

  #exec (namespace: string, ...args: string[]): void {
    run('ip', ['netns', 'exec', this.namespace(namespace), ...args])
  }

  /** A veth pair between two namespaces, addressed and up. */
  #veth (a: string, ifA: string, addressA: string | undefined, b: string, ifB: string, addressB: string | undefined): void {
    run('ip', ['link', 'add', ifA, 'netns', this.#ns(a), 'type', 'veth', 'peer', 'name', ifB, 'netns', this.#ns(b)])
    for (const [namespace, name, address] of [[a, ifA, addressA], [b, ifB, addressB]] as const) {
      if (address !== undefined) this.#ip(namespace, 'addr', 'add', address, 'dev', name)
      this.#ip(namespace, 'link', 'set', name, 'up')
    }
  }

  /** A userspace wire (TAP devices joined by wire.py) between two namespaces. */
  async #wire (a: string, ifA: string, addressA: string, b: string, ifB: string, addressB: string, delayMs: number, extra?: { from: string, ms: number }): Promise<void> {
    const args = [WIRE, `${this.#ns(a)}:${ifA}`, `${this.#ns(b)}:${ifB}`, String(delayMs), ...(extra !== undefined ? [extra.from, String(extra.ms)] : [])]
    const wire = spawn('python3', args, { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#processes.add(wire)
    const ready = await new Promise<boolean>((resolve) => {
      createInterface({ input: wire.stdout! }).once('line', (line) => { resolve(line === 'ready') })
      wire.once('exit', () => { resolve(false) })
    })
    if (!ready) throw new Error(`wire ${a}:${ifA} <-> ${b}:${ifB} did not start`)
    this.#ip(a, 'addr', 'add', addressA, 'dev', ifA)
    this.#ip(a, 'link', 'set', ifA, 'up')
    this.#ip(b, 'addr', 'add', addressB, 'dev', ifB)
    this.#ip(b, 'link', 'set', ifB, 'up')
  }

  async #build (spec: LabSpec): Promise<void> {
    this.#ns('inet')
    this.#exec('inet', 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    this.#veth('srv', 'eth0', `${SERVER_ADDRESS}/24`, 'inet', 'srv', '100.64.0.1/24')
    this.#ip('srv', 'route', 'add', 'default', 'via', '100.64.0.1')

    for (const [index, nat] of spec.nats.entries()) {
      const router = `nat-${nat.name}`
      const subnet = `100.64.${index + 1}`
      this.#ns(router)
      this.#exec(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
      await this.#wire(router, 'wan', `${subnet}.2/24`, 'inet', `w${nat.name}`, `${subnet}.1/24`, nat.delayMs,
        nat.serverExtraDelayMs !== undefined ? { from: SERVER_ADDRESS, ms: nat.serverExtraDelayMs } : undefined)
      this.#ip(router, 'route', 'add', 'default', 'via', `${subnet}.1`)
      this.#ip(router, 'link', 'add', 'lan', 'type', 'bridge')
      this.#ip(router, 'addr', 'add', `${nat.lan}.1/24`, 'dev', 'lan')
      this.#ip(router, 'link', 'set', 'lan', 'up')
      this.#exec(router, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(nat.mapping === 'random' ? ['--random-fully'] : []))
      if (nat.unsolicited === 'drop') {
        // Anything arriving on the WAN side that belongs to no connection is dropped silently (no reset).
        this.#exec(router, 'iptables', '-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP')
      }
    }

    let publicHosts = 0
    for (const host of spec.hosts) {
      if (host.nat === null) {
        publicHosts++
        const subnet = `100.64.${10 + publicHosts}`
        this.#veth(host.name, 'eth0', `${subnet}.2/24`, 'inet', `p${publicHosts}`, `${subnet}.1/24`)
        this.#ip(host.name, 'route', 'add', 'default', 'via', `${subnet}.1`)
        this.#hostAddresses.set(host.name, `${subnet}.2`)
      } else {
        const nat = spec.nats.find((candidate) => candidate.name === host.nat)
        if (nat === undefined || host.address === undefined) throw new Error(`host ${host.name}: unknown NAT or no address`)
        const router = `nat-${nat.name}`
        this.#veth(host.name, 'eth0', `${host.address}/24`, router, `h-${host.name}`.slice(0, 15), undefined)
        this.#ip(router, 'link', 'set', `h-${host.name}`.slice(0, 15), 'master', 'lan')
        this.#ip(host.name, 'route', 'add', 'default', 'via', `${nat.lan}.1`)
        this.#hostAddresses.set(host.name, host.address)
      }
    }
    await this.#startServer()
  }

  /** Runs a command in a namespace to completion; returns its output. */
  run (namespace: string, command: string, args: string[]): string {
    return run('ip', ['netns', 'exec', this.namespace(namespace), command, ...args])
  }

  /**
   * Runs a program in a namespace; the lab kills it on destroy(). Each
   * namespace is a host of its own: its own config folder (identity and
   * known-peers files), in the lab's data folder.
   */
  spawn (namespace: string, command: string, args: string[]): ChildProcess {
    const env = { ...process.env, XDG_CONFIG_HOME: this.configDir(namespace) }
    const child = spawn('ip', ['netns', 'exec', this.namespace(namespace), command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env })
    this.#processes.add(child)
    child.once('exit', () => this.#processes.delete(child))
    return child
  }

  /** The config folder (XDG_CONFIG_HOME) of a namespace's programs. */
  configDir (namespace: string): string {
    return path.join(this.#dataDir, 'config', namespace)
  }

  /** `punchline <args>` in a namespace, from the build. */
  punchline (namespace: string, args: string[]): ChildProcess {
    return this.spawn(namespace, process.execPath, [BIN, ...args])
  }

  async #startServer (): Promise<void> {
    await RendezvousProcess.start({
      host: '0.0.0.0',
      port: SERVER_PORT,
      databasePath: path.join(this.#dataDir, 'lab.db'),
      spawn: (command, args) => this.spawn('srv', command, args)
    })
  }

  async destroy (): Promise<void> {
    await Promise.all([...this.#processes].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }))
    for (const namespace of [...created]) if (namespace.startsWith(this.prefix)) deleteNamespace(namespace)
    rmSync(this.#dataDir, { recursive: true, force: true })
  }
}
