// The relay on loopback, against a direct loopback TCP connection measured
// in the same run: one connection, bulk bytes one way, then both ways at
// once; and what relaying costs the server, in CPU time per relayed MiB (the
// server is punchline's app in its own process, its limits lifted), next to
// a bare forwarder (stream.pipe in a process of its own, bench/pipe-forwarder.ts):
// the floor for any relay written on Node's sockets. Both ends of every
// connection live in this process, which does the same work in every case:
// write, count what arrives. Then the same through the SDK end to end: two
// Peers on loopback, connected directly (relay 'never') and through the
// relay (relay 'only'), each with the handshake and TLS 1.3 over the
// connection, in the same run.
//   tsx --conditions=@punchline/source bench/relay.ts   (alone; `npm run bench` runs it too)
import { fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Socket } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { attachRelay, Peer, type PunchedConnection } from '../sdk/index.js'
import { registerPeers, startServer, type BenchServer } from './servers.js'

/** Bytes per trial and direction: long enough that start-up is noise, short enough for a shared machine. */
export const RELAY_BENCH_MIB = 256
export const RELAY_BENCH_TRIALS = 3
const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x5a)

export interface Transfer {
  /** MB/s (10^6 bytes) per direction, the median of the trials. */
  oneWayMBps: number
  /** Both directions at once: the sum of the two. */
  bothWaysMBps: number
}

export interface RelayResults {
  mibPerTrial: number
  trials: number
  direct: Transfer
  /** Through the bare forwarder. */
  piped: Transfer
  relayed: Transfer
  /** relayed / direct. */
  ratioOneWay: number
  ratioBothWays: number
  /** Server process CPU (user + system) per MiB relayed, over every relayed trial. */
  serverCpuMsPerMiB: number
  /** The server's CPU while it relayed, in cores. */
  serverCores: number
  /** The bare forwarder's CPU per MiB it forwarded. */
  pipeCpuMsPerMiB: number
  /** Through the SDK end to end (TLS 1.3 both ends, in this process): a punched loopback connection ... */
  sdkDirect: Transfer
  /** ... and a relayed one. */
  sdkRelayed: Transfer
  /** sdkRelayed / sdkDirect. */
  sdkRatioOneWay: number
}

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** The bare forwarder, started: its port, its CPU time so far, and a stop. */
async function startForwarder (): Promise<{ port: number, cpuMs: () => Promise<number>, stop: () => void }> {
  const child = fork(path.join(HERE, 'pipe-forwarder.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [{ port }] = await once(child, 'message') as [{ port: number }]
  return {
    port,
    cpuMs: async () => {
      child.send('usage')
      return (await once(child, 'message') as [{ cpuMs: number }])[0].cpuMs
    },
    stop: () => { child.kill('SIGKILL') }
  }
}

/** Two connections to the bare forwarder, which pipes them to each other. */
async function pipedPair (port: number): Promise<[Socket, Socket]> {
  const dial = async (): Promise<Socket> => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true })
    await once(socket, 'connect')
    return socket
  }
  const a = await dial()
  await new Promise((resolve) => setTimeout(resolve, 20)) // accepted first: the forwarder pairs in order
  return [a, await dial()]
}

/** The CPU time `cpuMs` reports over `run`, per MiB moved (three times the trial size per trial: one way, then both ways). */
async function cpuPerMiB (cpuMs: () => Promise<number>, run: () => Promise<void>): Promise<{ msPerMiB: number, cores: number }> {
  const before = await cpuMs()
  const started = performance.now()
  await run()
  const wallMs = performance.now() - started
  const used = await cpuMs() - before
  return { msPerMiB: used / (RELAY_BENCH_TRIALS * RELAY_BENCH_MIB * 3), cores: used / wallMs }
}

/** Writes `bytes` to `socket` in 64 KiB writes, honouring backpressure, then ends it. */
async function send (socket: Socket, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    if (!socket.write(CHUNK)) await once(socket, 'drain')
  }
  socket.end()
}

/** Resolves once `bytes` have arrived on `socket`. */
async function receive (socket: Socket, bytes: number): Promise<void> {
  let received = 0
  socket.on('data', (chunk: Buffer) => { received += chunk.length })
  if (received < bytes) await once(socket, 'end')
  if (received !== bytes) throw new Error(`received ${received} bytes of ${bytes}`)
}

/** MB/s of `bytes` from a to b (and from b to a, when `bothWays`), timed from the first write to the last byte. */
async function timed (a: Socket, b: Socket, bytes: number, bothWays: boolean): Promise<number> {
  const started = performance.now()
  await Promise.all([send(a, bytes), receive(b, bytes), ...(bothWays ? [send(b, bytes), receive(a, bytes)] : [])])
  const seconds = (performance.now() - started) / 1000
  return (bothWays ? 2 : 1) * bytes / 1e6 / seconds
}

const median = (values: number[]): number => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!

/** A direct loopback TCP connection: both ends. */
async function directPair (): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true, noDelay: true })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const dialed = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true })
  const [[inbound]] = await Promise.all([accepted, once(dialed, 'connect')])
  server.close()
  return [dialed, inbound]
}

/** Two peers of one introduction, both attached to its relay. */
async function relayedPair (server: BenchServer, peers: Array<{ id: string, token: string }>): Promise<[Socket, Socket]> {
  const [alice, bob] = peers as [{ id: string, token: string }, { id: string, token: string }]
  const response = await fetch(`${server.url}/v1/introductions`, { method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: bob.id }) })
  if (response.status !== 201) throw new Error(`introduce: ${response.status} ${await response.text()}`)
  const { id } = await response.json() as { id: string }
  const [a, b] = await Promise.all([alice, bob].map(async (peer) => await attachRelay({ server: server.url, introductionId: id, token: peer.token })))
  // Like the direct pair: each side ends its own direction when done, whatever the other has done (the relay passes half-closes on).
  for (const socket of [a!, b!]) socket.allowHalfOpen = true
  return [a!, b!]
}

/** Two Peers (new ones, on new ports), connected by connect() with `relay`: both ends of the connection. */
async function sdkPair (server: BenchServer, relay: 'never' | 'only', opened: Peer[]): Promise<[Socket, Socket]> {
  const options = { server: server.url, localAddress: '127.0.0.1', privateEndpoints: [], reportOutcomes: false, relay }
  const n = opened.length
  const [alice, bob] = await Promise.all([Peer.open({ ...options, id: `sdk-a${n}` }), Peer.open({ ...options, id: `sdk-b${n}` })])
  opened.push(alice, bob)
  const incoming = once(bob, 'connection') as Promise<[PunchedConnection]>
  const outgoing = await alice.connect(bob.id)
  const [accepted] = await incoming
  if (outgoing.path !== (relay === 'only' ? 'relay' : 'public')) throw new Error(`connected over the ${outgoing.path} path with relay '${relay}'`)
  return [outgoing.socket, accepted.socket]
}

async function trials (pair: () => Promise<[Socket, Socket]>, bytes: number, bothWays: boolean): Promise<number[]> {
  const rates: number[] = []
  for (let trial = 0; trial < RELAY_BENCH_TRIALS; trial++) {
    const [a, b] = await pair()
    rates.push(await timed(a, b, bytes, bothWays))
    a.destroy()
    b.destroy()
  }
  return rates
}

export async function measureRelay (log: (line: string) => void): Promise<RelayResults> {
  const bytes = RELAY_BENCH_MIB * MiB
  const transfer = async (pair: () => Promise<[Socket, Socket]>): Promise<Transfer> => ({
    oneWayMBps: median(await trials(pair, bytes, false)),
    bothWaysMBps: median(await trials(pair, bytes, true))
  })
  const server = await startServer('punchline')
  const forwarder = await startForwarder()
  try {
    const peers = await registerPeers(server.url, 2, 'relay-bench-')
    const direct = await transfer(directPair)
    log(`relay: direct loopback ${direct.oneWayMBps.toFixed(0)} MB/s one way, ${direct.bothWaysMBps.toFixed(0)} MB/s both ways`)
    let piped: Transfer | undefined
    const pipeCost = await cpuPerMiB(forwarder.cpuMs, async () => { piped = await transfer(async () => await pipedPair(forwarder.port)) })
    log(`relay: bare forwarder ${piped!.oneWayMBps.toFixed(0)} MB/s one way, ${piped!.bothWaysMBps.toFixed(0)} MB/s both ways; its CPU ${pipeCost.msPerMiB.toFixed(2)} ms per MiB`)
    let relayed: Transfer | undefined
    const relayCost = await cpuPerMiB(async () => (await server.usage()).cpuMs, async () => { relayed = await transfer(async () => await relayedPair(server, peers)) })
    log(`relay: relayed ${relayed!.oneWayMBps.toFixed(0)} MB/s one way, ${relayed!.bothWaysMBps.toFixed(0)} MB/s both ways; server CPU ${relayCost.msPerMiB.toFixed(2)} ms per MiB`)
    const opened: Peer[] = []
    let sdkDirect: Transfer
    let sdkRelayed: Transfer
    try {
      sdkDirect = await transfer(async () => await sdkPair(server, 'never', opened))
      log(`relay: SDK end to end, punched (TLS 1.3) ${sdkDirect.oneWayMBps.toFixed(0)} MB/s one way, ${sdkDirect.bothWaysMBps.toFixed(0)} MB/s both ways`)
      sdkRelayed = await transfer(async () => await sdkPair(server, 'only', opened))
      log(`relay: SDK end to end, relayed (TLS 1.3) ${sdkRelayed.oneWayMBps.toFixed(0)} MB/s one way, ${sdkRelayed.bothWaysMBps.toFixed(0)} MB/s both ways`)
    } finally {
      await Promise.all(opened.map(async (peer) => { await peer.close() }))
    }
    return {
      mibPerTrial: RELAY_BENCH_MIB,
      trials: RELAY_BENCH_TRIALS,
      direct,
      piped: piped!,
      relayed: relayed!,
      ratioOneWay: relayed!.oneWayMBps / direct.oneWayMBps,
      ratioBothWays: relayed!.bothWaysMBps / direct.bothWaysMBps,
      serverCpuMsPerMiB: relayCost.msPerMiB,
      serverCores: relayCost.cores,
      pipeCpuMsPerMiB: pipeCost.msPerMiB,
      sdkDirect,
      sdkRelayed,
      sdkRatioOneWay: sdkRelayed.oneWayMBps / sdkDirect.oneWayMBps
    }
  } finally {
    forwarder.stop()
    await server.stop()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await measureRelay((line) => { console.error(`bench: ${line}`) })
  const record = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version }, load: os.loadavg(), ...results }
  const file = path.join(HERE, 'relay-results.json')
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n')
  console.log(JSON.stringify(record, null, 2))
}
