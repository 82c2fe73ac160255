// What end-to-end encryption costs, on loopback, all in one run: a punched
// connection's bulk throughput with TLS 1.3 (the default) against the same
// connection with `encrypt: false`; and port forwarding (an HTTP download
// through `Forwarder`/`Exposure`, HTTP/2 inside TLS) against the same download
// with encryption off and against the bare HTTP server. Two Peers in this
// process (the connection's receiver also in a process of its own), a real
// rendezvous server in its own. Goals (issue 12): encryption costs at most
// 30% of a connection's throughput between two processes; the tunnel stays at
// least as fast as before encryption (see TUNNEL_BEFORE).
//   tsx --conditions=@punchline/source bench/encryption.ts   (alone; `npm run bench` runs it too)
import { fork } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { request as httpRequest, createServer as createHttpServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Exposure, Forwarder, Peer } from '../sdk/index.js'
import { RendezvousProcess } from '../lab/rendezvous-process.js'

const MiB = 1024 * 1024
/** Bytes per trial: long enough that the punch and TLS handshakes are noise. */
export const ENCRYPTION_BENCH_MIB = 256
export const ENCRYPTION_BENCH_TRIALS = 3
/**
 * The unencrypted tunnel's download when issue 12 was filed, and the same
 * download without the tunnel on that machine: the encrypted tunnel is to be
 * at least as fast, as a share of the bare download of the same run.
 */
export const TUNNEL_BEFORE = { mbps: 250, bareMbps: 2300 }
const CHUNK = Buffer.alloc(64 * 1024, 0x5a)
const HERE = path.dirname(fileURLToPath(import.meta.url))

export interface EncryptionResults {
  mibPerTrial: number
  trials: number
  /** MB/s (10^6 bytes), one way, medians. */
  connection: { plain: number, encrypted: number, ratio: number }
  /** The same connection between two processes (the trial whose MB/s is the median). */
  apart: { plain: Transfer, encrypted: Transfer, ratio: number }
  download: { bare: number, tunnelPlain: number, tunnelEncrypted: number }
}

/** One way, between two processes: MB/s, and each end's CPU time per MiB. */
export interface Transfer {
  mbps: number
  senderCpuMsPerMiB: number
  receiverCpuMsPerMiB: number
}

/** A fresh id for each trial's peers: an id stays its key's after its peer closes. */
const trialId = (): string => randomBytes(4).toString('hex')
/** What every trial's peers share: loopback, no reports, a fresh key, with or without encryption. */
const peerOptions = (server: string, encrypt: boolean) =>
  ({ server, localAddress: '127.0.0.1', privateEndpoints: [] as [], encrypt, reportOutcomes: false, identity: generateKeyPairSync('ed25519').privateKey })
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const medianTransfer = (transfers: Transfer[]): Transfer => [...transfers].sort((a, b) => a.mbps - b.mbps)[Math.floor(transfers.length / 2)]!

/** Writes `mib` MiB into `socket` as fast as it drains. */
async function send (socket: Socket, mib: number): Promise<void> {
  for (let sent = 0; sent < mib * MiB; sent += CHUNK.length) {
    if (!socket.write(CHUNK)) await once(socket, 'drain')
  }
}

/** Writes `mib` MiB into `from`, and times until `to` has read them all. */
async function pump (from: Socket, to: Socket, mib: number): Promise<number> {
  const total = mib * MiB
  let received = 0
  const done = new Promise<void>((resolve) => {
    to.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received >= total) resolve()
    })
  })
  const started = performance.now()
  await send(from, mib)
  await done
  return total / 1e6 / ((performance.now() - started) / 1000)
}

/** One punched connection between two fresh peers; MB/s of `mib` MiB one way. */
async function connectionTrial (server: string, encrypt: boolean, mib: number): Promise<number> {
  const bob = await Peer.open({ ...peerOptions(server, encrypt), id: `bob-${encrypt}-${trialId()}` })
  const alice = await Peer.open({ ...peerOptions(server, encrypt), id: `alice-${encrypt}-${trialId()}` })
  try {
    const incoming = once(bob, 'connection')
    const outgoing = await alice.connect(bob.id)
    const [accepted] = await incoming as [{ socket: Socket, encrypted: boolean }]
    if (outgoing.encrypted !== encrypt || accepted.encrypted !== encrypt) throw new Error(`asked for encrypt: ${encrypt}, got ${outgoing.encrypted}`)
    const rate = await pump(outgoing.socket, accepted.socket, mib)
    outgoing.socket.destroy()
    accepted.socket.destroy()
    return rate
  } finally {
    await Promise.all([alice.close(), bob.close()])
  }
}

/**
 * The same transfer with the receiving peer in a process of its own, as two
 * programs are: each end's work (the sender's encryption, the receiver's
 * decryption) on its own thread. MB/s, and each side's CPU per MiB.
 */
async function apartTrial (server: string, encrypt: boolean, mib: number): Promise<Transfer> {
  const id = `bob-${encrypt}-${trialId()}`
  const receiver = fork(path.join(HERE, 'peer-receiver.ts'), [server, id, String(encrypt), String(mib)], {
    execArgv: ['--conditions=@punchline/source', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = once(receiver, 'exit')
  // The receiver's next message; a receiver that failed (its error is on stderr) fails the trial instead of hanging it.
  const message = async <T>(): Promise<T> => await Promise.race([
    once(receiver, 'message').then(([value]) => value as T),
    exited.then(([code]) => { throw new Error(`the receiving peer exited (${String(code)})`) })
  ])
  const alice = await Peer.open({ ...peerOptions(server, encrypt), id: `alice-${encrypt}-${trialId()}` })
  try {
    await message()
    const outgoing = await alice.connect(id)
    const arrived = message<{ encrypted: boolean, cpuMs: number }>()
    const cpu = process.cpuUsage()
    const started = performance.now()
    await send(outgoing.socket, mib)
    const { encrypted, cpuMs } = await arrived
    const seconds = (performance.now() - started) / 1000
    const { user, system } = process.cpuUsage(cpu)
    if (outgoing.encrypted !== encrypt || encrypted !== encrypt) throw new Error(`asked for encrypt: ${encrypt}, got ${outgoing.encrypted} and ${encrypted}`)
    outgoing.socket.destroy()
    return { mbps: mib * MiB / 1e6 / seconds, senderCpuMsPerMiB: (user + system) / 1000 / mib, receiverCpuMsPerMiB: cpuMs / mib }
  } finally {
    if (receiver.connected) receiver.disconnect()
    await Promise.all([alice.close(), exited])
  }
}

/** Downloads `mib` MiB from port; MB/s. */
async function download (port: number, mib: number): Promise<number> {
  const started = performance.now()
  let bytes = 0
  await new Promise<void>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path: `/${mib}`, agent: false }, (response) => {
      response.on('data', (chunk: Buffer) => { bytes += chunk.length })
      response.on('end', resolve)
      response.on('error', reject)
    }).on('error', reject).end()
  })
  if (bytes !== mib * MiB) throw new Error(`downloaded ${bytes} bytes of ${mib * MiB}`)
  return bytes / 1e6 / ((performance.now() - started) / 1000)
}

/** An HTTP server that answers GET /N with N MiB. */
async function bulkServer (): Promise<{ port: number, close: () => void }> {
  const server = createHttpServer((request, response) => {
    const mib = Number(request.url!.slice(1))
    response.writeHead(200, { 'content-length': String(mib * MiB) })
    let left = mib * MiB / CHUNK.length
    const write = (): void => {
      while (left > 0) {
        left--
        if (left === 0) { response.end(CHUNK); return }
        if (!response.write(CHUNK)) { response.once('drain', write); return }
      }
    }
    write()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, close: () => { server.close() } }
}

/** Downloads through a forwarded port, the tunnel with or without encryption; MB/s. */
async function tunnelTrial (server: string, servicePort: number, encrypt: boolean, mib: number): Promise<number> {
  const home = `home-${encrypt}-${trialId()}`
  const exposure = await Exposure.open({ ...peerOptions(server, encrypt), id: home, service: { host: '127.0.0.1', port: servicePort }, allow: '*' })
  const forwarder = await Forwarder.open({ ...peerOptions(server, encrypt), id: `laptop-${encrypt}-${trialId()}`, target: home, listen: { host: '127.0.0.1', port: 0 } })
  try {
    await download(forwarder.address.port, 1) // the punch and the tunnel's set-up, outside the timing
    return await download(forwarder.address.port, mib)
  } finally {
    await Promise.all([forwarder.close(), exposure.close()])
  }
}

export async function measureEncryption (log: (line: string) => void = console.log, mib = ENCRYPTION_BENCH_MIB, trials = ENCRYPTION_BENCH_TRIALS): Promise<EncryptionResults> {
  const rendezvous = await RendezvousProcess.start()
  const bulk = await bulkServer()
  try {
    const runs = { plain: [] as number[], encrypted: [] as number[], bare: [] as number[], tunnelPlain: [] as number[], tunnelEncrypted: [] as number[] }
    const apart = { plain: [] as Transfer[], encrypted: [] as Transfer[] }
    for (let trial = 0; trial < trials; trial++) {
      // Interleaved, so that a change in the machine's load falls on every case alike.
      runs.plain.push(await connectionTrial(rendezvous.url, false, mib))
      runs.encrypted.push(await connectionTrial(rendezvous.url, true, mib))
      apart.plain.push(await apartTrial(rendezvous.url, false, mib))
      apart.encrypted.push(await apartTrial(rendezvous.url, true, mib))
      runs.bare.push(await download(bulk.port, mib))
      runs.tunnelPlain.push(await tunnelTrial(rendezvous.url, bulk.port, false, mib))
      runs.tunnelEncrypted.push(await tunnelTrial(rendezvous.url, bulk.port, true, mib))
      log(`encryption trial ${trial + 1}/${trials}: connection ${runs.plain.at(-1)!.toFixed(0)} MB/s plain, ${runs.encrypted.at(-1)!.toFixed(0)} encrypted; ` +
        `between two processes ${apart.plain.at(-1)!.mbps.toFixed(0)} plain, ${apart.encrypted.at(-1)!.mbps.toFixed(0)} encrypted; ` +
        `download ${runs.bare.at(-1)!.toFixed(0)} bare, ${runs.tunnelPlain.at(-1)!.toFixed(0)} tunnel plain, ${runs.tunnelEncrypted.at(-1)!.toFixed(0)} tunnel encrypted`)
    }
    const plain = median(runs.plain)
    const encrypted = median(runs.encrypted)
    const apartPlain = medianTransfer(apart.plain)
    const apartEncrypted = medianTransfer(apart.encrypted)
    return {
      mibPerTrial: mib,
      trials,
      connection: { plain, encrypted, ratio: encrypted / plain },
      apart: { plain: apartPlain, encrypted: apartEncrypted, ratio: apartEncrypted.mbps / apartPlain.mbps },
      download: { bare: median(runs.bare), tunnelPlain: median(runs.tunnelPlain), tunnelEncrypted: median(runs.tunnelEncrypted) }
    }
  } finally {
    bulk.close()
    await rendezvous.destroy()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await measureEncryption(), null, 2))
}
