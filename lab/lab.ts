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
// A site may also have global IPv6 (NatSpec.ipv6): routed, not translated,
// behind a stateful firewall (ip6tables) on the same router, as mobile and
// home networks put IPv4 behind a NAT and IPv6 behind a firewall:
//
//   srv 2001:db8::2 ── inet ── nat-a (wan 2001:db8:1::2, lan 2001:db8:1:1::1/64) ── hosts 2001:db8:1:1::<n>
//                           └─ nat-b (wan 2001:db8:2::2, lan 2001:db8:2:1::1/64) ── hosts 2001:db8:2:1::<n>
//
// Then the server is reached by a name with both an A and an AAAA record,
// SERVER_NAME, which every namespace resolves through its own hosts file
// (/etc/netns/NAME/hosts, bind-mounted over /etc/hosts by `ip netns exec`).
//
// Everything created is deleted by destroy(), and by an exit hook if the
// test process dies first; namespaces (and their /etc/netns files) left by a
// run whose process is gone are deleted on the next create().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { BIN, ROOT, RendezvousProcess } from './rendezvous-process.js'

const WIRE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wire.py')
/** A wire prints "ready" within a second even on a loaded machine; one that does not fails the lab, not the whole test by its timeout. */
const WIRE_START_TIMEOUT_MS = 10_000
/** pl<pid of the test process>-<random>-<name>: a namespace whose process is gone is stale. */
const NAMESPACE_PATTERN = /^pl(\d+)-[0-9a-f]{4}-/
export const SERVER_ADDRESS = '100.64.0.2'
/** Where roundTripMs sends its SYNs: a port the NAT resets for the measurement. */
const ROUND_TRIP_PORT = 9
/** Times connect() until the reset, `count` times, 50 ms apart; prints the median in ms. */
const ROUND_TRIP_SCRIPT = `
import socket, statistics, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(count):
    s = socket.socket()
    start = time.perf_counter()
    try:
        s.connect((host, port))
    except ConnectionRefusedError:
        times.append((time.perf_counter() - start) * 1000)
    s.close()
    time.sleep(0.05)
print(statistics.median(times))
`
export const SERVER_IPV6_ADDRESS = '2001:db8::2'
export const SERVER_PORT = 8080
/** The server's name in a laboratory with IPv6: an A and an AAAA record, in every namespace's hosts file. */
export const SERVER_NAME = 'rendezvous.lab'
/** Where `ip netns exec` finds a namespace's own /etc files. */
const NETNS_ETC = '/etc/netns'

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
  /**
   * The site also has global IPv6 (2001:db8:<n>:1::/64, n = the NAT's place
   * in the spec, from 1), routed without translation behind a stateful
   * firewall that accepts established and related traffic and resets or
   * drops new inbound TCP.
   */
  ipv6?: { unsolicited: 'reset' | 'drop' }
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
/** This process made /etc/netns (no other program here uses it): it removes it once empty. */
let madeNetnsEtc = false
process.once('exit', () => {
  for (const namespace of created) deleteNamespace(namespace)
  if (madeNetnsEtc) {
    try {
      rmdirSync(NETNS_ETC)
    } catch {}
  }
})

function run (command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function deleteNamespace (namespace: string): void {
  try {
    run('ip', ['netns', 'del', namespace])
  } catch {}
  rmSync(path.join(NETNS_ETC, namespace), { recursive: true, force: true })
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

/** Why a laboratory with IPv6 sites cannot run here, or undefined when it can. */
export function ipv6LabUnavailable (): string | undefined {
  const unavailable = labUnavailable()
  if (unavailable !== undefined) return unavailable
  try {
    run('ip6tables', ['--version'])
  } catch {
    return 'it needs ip6tables for the IPv6 firewalls (apt-get install iptables)'
  }
  if (!existsSync('/proc/sys/net/ipv6')) return 'this kernel has no IPv6'
  return undefined
}

/** The IPv6 prefix of the n-th NAT's site (n from 1): its WAN link is <prefix>::/64, its LAN <prefix>:1::/64. */
function ipv6Site (n: number): string {
  return `2001:db8:${n}`
}

/** A LAN host's IPv6 address: its site's LAN prefix, and the last byte of its IPv4 address. */
function hostIpv6 (n: number, ipv4: string): string {
  return `${ipv6Site(n)}:1::${ipv4.split('.').at(-1)!}`
}

export class Lab {
  readonly prefix = `pl${process.pid}-${randomBytes(2).toString('hex')}-`
  readonly #processes = new Set<ChildProcess>()
  readonly #hostAddresses = new Map<string, string>()
  /** Each NAT's WAN address, by the NAT's name. */
  readonly #wanAddresses = new Map<string, string>()
  readonly #hostIpv6Addresses = new Map<string, string>()
  /** Some site has IPv6: the server has an IPv6 address and a name. */
  #ipv6 = false
  readonly #dataDir = mkdtempSync(path.join(tmpdir(), 'punchline-lab-'))

  static async create (spec: LabSpec): Promise<Lab> {
    const etc = existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC) : []
    for (const name of [...run('ip', ['netns', 'list']).split('\n').map((line) => line.split(' ')[0]!), ...etc]) {
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

  /** The server's URL: by its name (A and AAAA) when some site has IPv6, else by its IPv4 address. */
  get serverUrl (): string {
    return `http://${this.#ipv6 ? SERVER_NAME : SERVER_ADDRESS}:${SERVER_PORT}`
  }

  /** The global IPv6 address of a host on a site with IPv6. */
  ipv6AddressOf (host: string): string {
    const address = this.#hostIpv6Addresses.get(host)
    if (address === undefined) throw new Error(`host ${host} has no IPv6 address`)
    return address
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
      if (this.#ipv6) {
        // Addresses usable at once: no duplicate address detection, for link-local addresses (neighbour discovery) too.
        for (const conf of ['all', 'default']) run('ip', ['netns', 'exec', namespace, 'sysctl', '-qw', `net.ipv6.conf.${conf}.accept_dad=0`])
        if (!existsSync(NETNS_ETC)) {
          mkdirSync(NETNS_ETC)
          madeNetnsEtc = true
        }
        mkdirSync(path.join(NETNS_ETC, namespace))
        writeFileSync(path.join(NETNS_ETC, namespace, 'hosts'), [
          '127.0.0.1 localhost', '::1 localhost ip6-localhost', `${SERVER_ADDRESS} ${SERVER_NAME}`, `${SERVER_IPV6_ADDRESS} ${SERVER_NAME}`, ''
        ].join('\n'))
      }
    }
    return namespace
  }

  /** An IPv6 address, usable at once. */
  #ip6 (namespace: string, address: string, device: string): void {
    this.#ip(namespace, '-6', 'addr', 'add', address, 'dev', device, 'nodad')
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
    let timer: NodeJS.Timeout | undefined
    const ready = await new Promise<boolean>((resolve) => {
      createInterface({ input: wire.stdout! }).once('line', (line) => { resolve(line === 'ready') })
      wire.once('exit', () => { resolve(false) })
      timer = setTimeout(() => { resolve(false) }, WIRE_START_TIMEOUT_MS)
    }).finally(() => { clearTimeout(timer) })
    if (!ready) throw new Error(`wire ${a}:${ifA} <-> ${b}:${ifB} did not start within ${WIRE_START_TIMEOUT_MS} ms`)
    this.#ip(a, 'addr', 'add', addressA, 'dev', ifA)
    this.#ip(a, 'link', 'set', ifA, 'up')
    this.#ip(b, 'addr', 'add', addressB, 'dev', ifB)
    this.#ip(b, 'link', 'set', ifB, 'up')
  }

  async #build (spec: LabSpec): Promise<void> {
    this.#ipv6 = spec.nats.some((nat) => nat.ipv6 !== undefined)
    this.#ns('inet')
    this.#exec('inet', 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    this.#veth('srv', 'eth0', `${SERVER_ADDRESS}/24`, 'inet', 'srv', '100.64.0.1/24')
    this.#ip('srv', 'route', 'add', 'default', 'via', '100.64.0.1')
    if (this.#ipv6) {
      this.#exec('inet', 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1')
      this.#ip6('srv', `${SERVER_IPV6_ADDRESS}/64`, 'eth0')
      this.#ip6('inet', '2001:db8::1/64', 'srv')
      this.#ip('srv', '-6', 'route', 'add', 'default', 'via', '2001:db8::1')
    }

    for (const [index, nat] of spec.nats.entries()) {
      const router = `nat-${nat.name}`
      const subnet = `100.64.${index + 1}`
      this.#ns(router)
      this.#wanAddresses.set(nat.name, `${subnet}.2`)
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
      if (nat.ipv6 !== undefined) this.#ipv6Site(router, index + 1, nat.ipv6.unsolicited, `w${nat.name}`)
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
        if (nat.ipv6 !== undefined) {
          const n = spec.nats.indexOf(nat) + 1
          const address = hostIpv6(n, host.address)
          this.#ip6(host.name, `${address}/64`, 'eth0')
          this.#ip(host.name, '-6', 'route', 'add', 'default', 'via', `${ipv6Site(n)}:1::1`)
          this.#hostIpv6Addresses.set(host.name, address)
        }
      }
    }
    await this.#startServer()
  }

  /**
   * The n-th site's IPv6: the router forwards between its WAN link and LAN
   * without translation, and its firewall lets in only what belongs to a
   * connection from inside (a punch's crossing SYNs do: each side's own SYN
   * made the entry the other's matches), resetting or dropping new inbound TCP.
   */
  #ipv6Site (router: string, n: number, unsolicited: 'reset' | 'drop', inetSide: string): void {
    const site = ipv6Site(n)
    this.#exec(router, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1')
    this.#ip6(router, `${site}::2/64`, 'wan')
    this.#ip6('inet', `${site}::1/64`, inetSide)
    this.#ip('inet', '-6', 'route', 'add', `${site}:1::/64`, 'via', `${site}::2`)
    this.#ip(router, '-6', 'route', 'add', 'default', 'via', `${site}::1`)
    this.#ip6(router, `${site}:1::1/64`, 'lan')
    this.#exec(router, 'ip6tables', '-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
    this.#exec(router, 'ip6tables', '-A', 'FORWARD', '-i', 'wan', '-p', 'tcp', '-j', ...(unsolicited === 'reset' ? ['REJECT', '--reject-with', 'tcp-reset'] : ['DROP']))
  }

  /**
   * Lets no SYN pass between NATs a and b (both ways, dropped at a): what a
   * test that needs the relay does where a punch (or the birthday spray)
   * could otherwise connect them directly now and then. Returns the undo.
   */
  separateNats (): () => void {
    const wanB = this.#wanAddresses.get('b')
    if (wanB === undefined) throw new Error('separateNats needs NATs a and b')
    const rules = [['-d', wanB], ['-s', wanB]].map((direction) => ['FORWARD', '-p', 'tcp', '--syn', ...direction, '-j', 'DROP'])
    for (const rule of rules) this.run('nat-a', 'iptables', ['-I', ...rule])
    return () => { for (const rule of rules) this.run('nat-a', 'iptables', ['-D', ...rule]) }
  }

  /**
   * The wires' real round trip from a host to a NAT's WAN side, kernel to
   * kernel: the median of `count` SYNs that the NAT answers with a reset (a
   * rule added for the measurement, as a dropping NAT answers nothing). The
   * lab's userspace wire adds its own processing to each link's delay.
   */
  roundTripMs (host: string, nat: string, count = 15): number {
    const wan = this.#wanAddresses.get(nat)
    if (wan === undefined) throw new Error(`no NAT ${nat}`)
    const rule = ['INPUT', '-i', 'wan', '-p', 'tcp', '--dport', String(ROUND_TRIP_PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']
    this.run(`nat-${nat}`, 'iptables', ['-I', ...rule])
    try {
      return Number(this.run(host, 'python3', ['-c', ROUND_TRIP_SCRIPT, wan, String(ROUND_TRIP_PORT), String(count)]).trim())
    } finally {
      this.run(`nat-${nat}`, 'iptables', ['-D', ...rule])
    }
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
      // Both families on one dual-stack socket, as `--host ::` serves by default.
      host: this.#ipv6 ? '::' : '0.0.0.0',
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
    if (madeNetnsEtc) {
      try {
        rmdirSync(NETNS_ETC) // made for the laboratories' hosts files: gone once the last of them is
        madeNetnsEtc = false
      } catch {}
    }
    rmSync(this.#dataDir, { recursive: true, force: true })
  }
}
