// `npm run bench`: every benchmark, side by side in one run on this machine,
// written to bench/results.json (every figure, the goals) and bench/results.md.
// Nothing here is a test assertion: a missed goal is reported, not failed.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { measureLab, DELAY_MS, TRIALS as LAB_TRIALS, type LabProfileResult } from './lab-timing.js'
import { measurePush, type PushResults } from './push.js'
import { CONNECTIONS, DURATION_SECONDS, measureHelloWorld, measureThroughput } from './throughput.js'
import { IDLE_MEASURED_SECONDS, IDLE_WAIT_SECONDS, measureIdle } from './idle.js'
import { measurePostgres } from './postgres.js'
import { measureSecurity } from './security.js'
import { measureRelay, RELAY_BENCH_MIB, RELAY_BENCH_TRIALS } from './relay.js'
import { measureEncryption, ENCRYPTION_BENCH_MIB, ENCRYPTION_BENCH_TRIALS, TUNNEL_BEFORE } from './encryption.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const log = (line: string): void => { console.error(`bench: ${line}`) }
const started = Date.now()

const helloWorld = await measureHelloWorld(log)
const throughput = await measureThroughput(log, helloWorld)
const idle = await measureIdle(log)
const push: PushResults[] = []
for (const count of [1000, 10_000]) {
  push.push(await measurePush(count, log))
  log(`push with ${count} held polls: p99 ${push.at(-1)!.latencyP99Ms.toFixed(2)} ms`)
}
const postgres = await measurePostgres(log, helloWorld)
const lab = await measureLab(log)
const security = await measureSecurity(log)
const relay = await measureRelay(log)
const encryption = await measureEncryption(log)

const tunnelRatio = encryption.download.tunnelEncrypted / encryption.download.bare
const tunnelRatioBefore = TUNNEL_BEFORE.mbps / TUNNEL_BEFORE.bareMbps
const atScale = push.find((result) => result.heldPolls === 10_000)!
const perPollBytes = atScale.rssPerPollBytes // RSS holds the heap and the native side of each connection
const labRows = Array.isArray(lab) ? lab.filter((row) => row.rttMs > 0) : []
const goals = [
  {
    name: `idle capacity: ${idle.peers} peers polling with wait=${IDLE_WAIT_SECONDS} on their own connections`,
    target: '>= 4,000 poll cycles/s, p99 lateness < 100 ms, no failed poll',
    measured: `${idle.cyclesPerSecond.toFixed(0)} cycles/s, p99 ${idle.latenessP99Ms.toFixed(1)} ms late, ${idle.failedPolls} failed`,
    met: idle.cyclesPerSecond >= 4000 && idle.latenessP99Ms < 100 && idle.failedPolls === 0
  },
  {
    name: 'register throughput at least 10% of the hello-world route (limits lifted: the per-address bound off)',
    target: 'ratio >= 0.10',
    measured: `${throughput.register.requestsPerSecond.toFixed(0)} req/s, ratio ${throughput.register.ratioToHelloWorld.toFixed(3)}; ` +
      `with the bound on, counting every registration from 127.0.0.1: ${throughput.registerCounting.requestsPerSecond.toFixed(0)} req/s, ratio ${throughput.registerCounting.ratioToHelloWorld.toFixed(3)}`,
    met: throughput.register.ratioToHelloWorld >= 0.1
  },
  {
    name: 'introduce throughput (delivered to held polls) at least 10% of the hello-world route',
    target: 'ratio >= 0.10',
    measured: `${throughput.introduce.requestsPerSecond.toFixed(0)} req/s, ratio ${throughput.introduce.ratioToHelloWorld.toFixed(3)}`,
    met: throughput.introduce.ratioToHelloWorld >= 0.1
  },
  {
    name: 'push p99 with 10,000 held long-polls',
    target: '< 5 ms',
    measured: `${atScale.latencyP99Ms.toFixed(2)} ms`,
    met: atScale.latencyP99Ms < 5
  },
  {
    name: 'server memory per held long-poll (RSS slope, 10,000 polls)',
    target: '< 16 KiB',
    measured: `${(perPollBytes / 1024).toFixed(1)} KiB`,
    met: perPollBytes < 16 * 1024
  },
  {
    name: 'PostgreSQL: throughput with one and two instances, cross-instance push latency',
    target: 'measured',
    measured: 'skipped' in postgres
      ? `not measured: ${postgres.skipped}`
      : `${postgres.instances.map((row) => `${row.count} instance(s): register ${row.register.requestsPerSecond.toFixed(0)}, introduce ${row.introduce.requestsPerSecond.toFixed(0)} req/s`).join('; ')}; cross-instance push p50 ${postgres.crossInstancePush.latencyP50Ms.toFixed(2)} ms, p99 ${postgres.crossInstancePush.latencyP99Ms.toFixed(2)} ms`,
    met: !('skipped' in postgres)
  },
  {
    name: `a legitimate connect() while ${security.flood.introductions} introductions flood the target (server limits lifted)`,
    target: '<= 2x the same connect() unloaded; event loop delay < 50 ms',
    measured: `${security.flood.floodedConnectMs.toFixed(0)} ms against ${security.flood.unloadedConnectMs.toFixed(0)} ms (x${security.flood.ratio.toFixed(2)}); event loop p99 ${security.flood.eventLoopDelayP99Ms.toFixed(1)} ms, max ${security.flood.eventLoopDelayMaxMs.toFixed(1)} ms; at most ${security.flood.mostPunchesAtOnce} punches at once`,
    met: security.flood.ratio <= 2 && security.flood.eventLoopDelayMaxMs < 50
  },
  {
    name: `/health while the punch statistics are read, over ${security.statistics.reports.toLocaleString('en')} stored reports`,
    target: '< 50 ms',
    measured: `p99 ${security.statistics.healthP99Ms.toFixed(1)} ms, max ${security.statistics.healthMaxMs.toFixed(1)} ms (empty server: p99 ${security.statistics.emptyHealthP99Ms.toFixed(1)} ms); statistics built in ${security.statistics.loadSeconds.toFixed(1)} s, read in ${security.statistics.statsP50Ms.toFixed(1)} ms (p50)`,
    met: security.statistics.healthMaxMs < 50
  },
  {
    name: 'relayed throughput on loopback against a direct loopback connection (same run, same client work)',
    target: '>= 50% one way and both ways; server CPU per relayed MiB measured',
    measured: `${relay.relayed.oneWayMBps.toFixed(0)} MB/s one way (${(relay.ratioOneWay * 100).toFixed(0)}% of ${relay.direct.oneWayMBps.toFixed(0)}), ${relay.relayed.bothWaysMBps.toFixed(0)} MB/s both ways (${(relay.ratioBothWays * 100).toFixed(0)}% of ${relay.direct.bothWaysMBps.toFixed(0)}); server ${relay.serverCpuMsPerMiB.toFixed(2)} ms CPU per MiB`,
    met: relay.ratioOneWay >= 0.5 && relay.ratioBothWays >= 0.5
  },
  {
    name: 'end-to-end encryption (TLS 1.3) against the same punched connection unencrypted, loopback, same run',
    target: 'encrypted >= 70% of unencrypted (costs <= 30%), between two peer processes (each end on its own thread, as two programs are)',
    measured: `two processes: ${encryption.apart.encrypted.mbps.toFixed(0)} MB/s encrypted, ${encryption.apart.plain.mbps.toFixed(0)} MB/s plain: ${(encryption.apart.ratio * 100).toFixed(0)}%; ` +
      `both peers in one process (one thread encrypts and decrypts): ${encryption.connection.encrypted.toFixed(0)} against ${encryption.connection.plain.toFixed(0)} MB/s: ${(encryption.connection.ratio * 100).toFixed(0)}%`,
    met: encryption.apart.ratio >= 0.7
  },
  {
    name: 'an HTTP download through the encrypted tunnel (forward/expose) at least as fast as before encryption',
    target: `>= ${TUNNEL_BEFORE.mbps} MB/s against ${TUNNEL_BEFORE.bareMbps} MB/s without the tunnel (the unencrypted tunnel before issue 12), as a ratio to the bare download of the same run: >= ${tunnelRatioBefore.toFixed(3)}`,
    measured: `${encryption.download.tunnelEncrypted.toFixed(0)} MB/s encrypted, ${encryption.download.tunnelPlain.toFixed(0)} MB/s unencrypted, ${encryption.download.bare.toFixed(0)} MB/s without the tunnel: ratio ${tunnelRatio.toFixed(3)}`,
    met: tunnelRatio >= tunnelRatioBefore
  },
  {
    name: 'median time to an authenticated connection (--no-encrypt: the punch and its handshake) within one round trip of the floor',
    target: 'median - floor <= peer round trip, every profile with WAN delay',
    measured: Array.isArray(lab) ? labRows.map((row) => `${row.profile}: +${row.aboveFloorMs.toFixed(0)} ms (RTT ${row.rttMs})`).join('; ') : `not measured: ${lab.skipped}`,
    met: Array.isArray(lab) && labRows.every((row) => row.aboveFloorMs <= row.rttMs)
  },
  {
    name: 'TLS 1.3 on the punched connection adds at most one peer round trip to the time to connect (issue 12)',
    target: 'median with TLS - median with --no-encrypt <= the peer round trip measured in the lab (SYN to reset), same run, every profile with WAN delay',
    measured: Array.isArray(lab) ? labRows.map((row) => `${row.profile}: +${row.tlsCostMs.toFixed(0)} ms (RTT ${row.measuredRttMs?.toFixed(1) ?? '-'} measured, ${row.rttMs} configured)`).join('; ') : `not measured: ${lab.skipped}`,
    met: Array.isArray(lab) && labRows.every((row) => row.measuredRttMs !== null && row.tlsCostMs <= row.measuredRttMs)
  }
]

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  node: process.version
}
const results = { date: new Date().toISOString(), machine, load: os.loadavg(), durationSeconds: Math.round((Date.now() - started) / 1000), throughput, idle, push, postgres, lab, security, relay, encryption, goals }
writeFileSync(path.join(HERE, 'results.json'), JSON.stringify(results, null, 2) + '\n')

const ms = (value: number): string => value.toFixed(2)
const kib = (bytes: number): string => (bytes / 1024).toFixed(1)
const loadRow = (name: string, load: { requestsPerSecond: number, latencyP50Ms: number, latencyP99Ms: number }, ratio?: number): string =>
  `| ${name} | ${load.requestsPerSecond.toFixed(0)} | ${load.latencyP50Ms} | ${load.latencyP99Ms} | ${ratio === undefined ? '1.00' : ratio.toFixed(2)} |`
const labTable = Array.isArray(lab)
  ? [
      '| profile | connected | peer RTT ms (measured) | floor ms | median ms (TLS) | p95 ms (TLS) | median in RTTs (TLS) | median ms, --no-encrypt | its median − floor ms | TLS adds ms | SYNs per punch (median / max) | via | path |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...lab.map((row: LabProfileResult) => `| ${row.profile} | ${row.connected}/${row.trials} | ${row.rttMs} (${row.measuredRttMs?.toFixed(1) ?? '—'}) | ${row.floorMs} | ${row.medianMs} | ${row.p95Ms} | ${row.medianRoundTrips?.toFixed(2) ?? '—'} | ${row.plainMedianMs} | ${row.aboveFloorMs.toFixed(1)} | ${row.tlsCostMs.toFixed(1)} | ${row.synsPerPunchMedian} / ${row.synsPerPunchMax} | ${JSON.stringify(row.via)} | ${JSON.stringify(row.path)} |`)
    ].join('\n')
  : `Not measured: ${lab.skipped}.`

const markdown = `# punchline benchmarks

Measured ${results.date.slice(0, 10)} on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node};
the whole run took ${results.durationSeconds} s; load average at the end ${results.load.map((value) => value.toFixed(1)).join(' / ')} (1/5/15 min; the machine is shared).
Regenerate with \`npm run bench\` (the laboratory part needs root, the PostgreSQL part Debian's postgresql package).

## Goals

| goal | target | measured | met |
| --- | --- | --- | --- |
${goals.map((goal) => `| ${goal.name} | ${goal.target} | ${goal.measured} | ${goal.met ? 'yes' : '**no**'} |`).join('\n')}

## API throughput

autocannon, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per route, each server in its own process on loopback, sharing the
machine's cores with the load generator. Introductions go to ${throughput.introduce.pollingTargets} peers that hold long-polls throughout;
${throughput.introduce.delivered} of ${throughput.introduce.requests2xx} introductions created were delivered to a poll.
The abuse limits are lifted, the per-address registration bound off: every request comes from 127.0.0.1, where the bound
would count all of the registrations made so far (in a deployment it counts at most its 256 per address). The last row
measures that count: a fresh server with the bound at ${throughput.registerCounting.bound.toLocaleString('en-US')}, never reached.

| route | req/s | p50 ms | p99 ms | ratio to hello-world |
| --- | --- | --- | --- | --- |
${loadRow('GET /hello (bare Fastify)', throughput.helloWorld)}
${loadRow('POST /v1/peers (register)', throughput.register, throughput.register.ratioToHelloWorld)}
${loadRow('POST /v1/introductions (delivered to a held poll)', throughput.introduce, throughput.introduce.ratioToHelloWorld)}
${loadRow('POST /v1/peers (register), the per-address bound counting', throughput.registerCounting, throughput.registerCounting.ratioToHelloWorld)}

## Idle capacity

${idle.peers} registered peers, each holding a long-poll with \`wait=${IDLE_WAIT_SECONDS}\` on its own connection (undici, one client process)
and polling again (acknowledging its cursor) the moment it returns, measured over ${IDLE_MEASURED_SECONDS} s after they all came online.
Lateness: answer time minus the wait. Server CPU in cores over the window; RSS at its end (and after a full GC);
the server's event-loop delay and its longest GC pause over the window, and the client process's CPU and event-loop delay:
lateness is measured in the client, so its own delay is in the figure too.

| poll cycles/s | lateness p50 ms | p99 ms | max ms | failed polls | server CPU (cores) | server loop delay p99 / max ms | longest GC ms | client CPU (cores) | client loop delay p99 / max ms | server RSS MiB (after GC) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| ${idle.cyclesPerSecond.toFixed(0)} | ${ms(idle.latenessP50Ms)} | ${ms(idle.latenessP99Ms)} | ${ms(idle.latenessMaxMs)} | ${idle.failedPolls} | ${idle.serverCpuCores.toFixed(2)} | ${ms(idle.serverLoopDelayP99Ms)} / ${ms(idle.serverLoopDelayMaxMs)} | ${ms(idle.serverLongestGcMs)} | ${idle.clientCpuCores.toFixed(2)} | ${ms(idle.clientLoopDelayP99Ms)} / ${ms(idle.clientLoopDelayMaxMs)} | ${(idle.serverRssBytes / 2 ** 20).toFixed(0)} (${(idle.serverRssAfterGcBytes / 2 ** 20).toFixed(0)}) |

## PostgreSQL

${'skipped' in postgres
  ? `Not measured: ${postgres.skipped}.`
  : `A throwaway cluster on this machine (fsync and synchronous_commit on), each instance its own process; the ${CONNECTIONS} connections and the
polling targets split between the instances. Cross-instance push: ${postgres.crossInstancePush.heldPolls} polls held by instance 2, ${postgres.crossInstancePush.introductions} introductions
one after another through instance 1, from the moment instance 1 stored each to the arrival of its poll answer.

| instances | register req/s | p99 ms | ratio to hello-world | introduce req/s | p99 ms | ratio | delivered |
| --- | --- | --- | --- | --- | --- | --- | --- |
${postgres.instances.map((row) => `| ${row.count} | ${row.register.requestsPerSecond.toFixed(0)} | ${row.register.latencyP99Ms} | ${row.register.ratioToHelloWorld.toFixed(3)} | ${row.introduce.requestsPerSecond.toFixed(0)} | ${row.introduce.latencyP99Ms} | ${row.introduce.ratioToHelloWorld.toFixed(3)} | ${row.introduce.delivered}/${row.introduce.requests2xx} |`).join('\n')}

Cross-instance push latency: p50 ${ms(postgres.crossInstancePush.latencyP50Ms)} ms, p99 ${ms(postgres.crossInstancePush.latencyP99Ms)} ms, max ${ms(postgres.crossInstancePush.latencyMaxMs)} ms.`}

## Push latency and memory at scale

From the moment an introduction is stored (server clock) to the arrival of its target's poll response
(client clock, same machine), while all polls are held; ${push[0]?.introductions ?? 0} introductions one after another.
Memory per poll: slope of the server's RSS and V8 heap used (after a full GC) against held polls, as the polls are opened in
tenths, fitted over the last eight tenths (V8's heap headroom swings while the first polls open).
While the introductions are made: the server's event-loop delay and longest GC pause, and the longest GC pause of the
client process that holds the polls (its pauses delay arrivals too). That process, the load generator, runs with a
64 MiB young generation (\`--max-semi-space-size=64\`, the \`bench\` script in package.json; the servers keep Node's default):
with the default, its own scavenges put the 1,000-poll p99 at 6.3–8.1 ms, with the larger one at 4.6–4.8 ms
(same machine, 2026-11-28: four runs with the default, two with the larger).

| held polls | p50 ms | p99 ms | max ms | server loop delay p99 / max ms | longest GC ms: server / client | RSS per poll KiB | heap per poll KiB |
| --- | --- | --- | --- | --- | --- | --- | --- |
${push.map((row) => `| ${row.heldPolls} | ${ms(row.latencyP50Ms)} | ${ms(row.latencyP99Ms)} | ${ms(row.latencyMaxMs)} | ${ms(row.serverLoopDelayP99Ms)} / ${ms(row.serverLoopDelayMaxMs)} | ${ms(row.serverLongestGcMs)} / ${ms(row.clientLongestGcMs)} | ${kib(row.rssPerPollBytes)} | ${kib(row.heapPerPollBytes)} |`).join('\n')}

## Relay

One connection through the relay (punchline's server in its own process, limits lifted; both peers attached with the SDK's
\`attachRelay\`) against a direct loopback TCP connection, ${RELAY_BENCH_MIB} MiB per direction and trial, median of ${RELAY_BENCH_TRIALS} trials; both ends
in the benchmark's process, which does the same work in both cases (64 KiB writes with backpressure, count what arrives).
Server CPU: user + system time of the server process over every relayed trial, per MiB relayed.

| connection | one way MB/s | both ways MB/s (sum) |
| --- | --- | --- |
| direct loopback | ${relay.direct.oneWayMBps.toFixed(0)} | ${relay.direct.bothWaysMBps.toFixed(0)} |
| a bare forwarder (stream.pipe, own process) | ${relay.piped.oneWayMBps.toFixed(0)} | ${relay.piped.bothWaysMBps.toFixed(0)} |
| through the relay | ${relay.relayed.oneWayMBps.toFixed(0)} (${(relay.ratioOneWay * 100).toFixed(0)}% of direct) | ${relay.relayed.bothWaysMBps.toFixed(0)} (${(relay.ratioBothWays * 100).toFixed(0)}%) |

Server CPU per relayed MiB: ${relay.serverCpuMsPerMiB.toFixed(2)} ms (${relay.serverCores.toFixed(2)} cores while relaying); the bare forwarder's: ${relay.pipeCpuMsPerMiB.toFixed(2)} ms.

## Encryption

Two Peers on loopback (a real rendezvous server in its own process), ${ENCRYPTION_BENCH_MIB} MiB one way per trial through a
punched connection, median of ${ENCRYPTION_BENCH_TRIALS} trials interleaved: with the receiving peer in a process of its own, as two
programs are (the goal's figure), and with both peers in the benchmark's process, where one thread does the sender's
encryption and the receiver's decryption; and an HTTP download of as much through
\`Forwarder\`/\`Exposure\` (HTTP/2 CONNECT inside the punched connection) against the same download without the tunnel.
CPU per MiB between two processes: plain ${encryption.apart.plain.senderCpuMsPerMiB.toFixed(2)} ms sending, ${encryption.apart.plain.receiverCpuMsPerMiB.toFixed(2)} ms receiving;
encrypted ${encryption.apart.encrypted.senderCpuMsPerMiB.toFixed(2)} ms sending, ${encryption.apart.encrypted.receiverCpuMsPerMiB.toFixed(2)} ms receiving.

| | unencrypted (\`encrypt: false\`) MB/s | encrypted (TLS 1.3, the default) MB/s | ratio |
| --- | --- | --- | --- |
| punched connection, the peers in two processes | ${encryption.apart.plain.mbps.toFixed(0)} | ${encryption.apart.encrypted.mbps.toFixed(0)} | ${encryption.apart.ratio.toFixed(2)} |
| punched connection, both peers in one process | ${encryption.connection.plain.toFixed(0)} | ${encryption.connection.encrypted.toFixed(0)} | ${encryption.connection.ratio.toFixed(2)} |
| download through the tunnel | ${encryption.download.tunnelPlain.toFixed(0)} | ${encryption.download.tunnelEncrypted.toFixed(0)} | ${(encryption.download.tunnelEncrypted / encryption.download.tunnelPlain).toFixed(2)} |
| the same download, no tunnel | ${encryption.download.bare.toFixed(0)} | | |

## Time to an authenticated connection (NAT laboratory)

${LAB_TRIALS} trials per profile as users run it (TLS 1.3 on the connection) and ${LAB_TRIALS} with --no-encrypt, alternating,
${DELAY_MS} ms one-way delay on every WAN link (userspace wire), timed from the moment
the initiator receives the introduction to its confirmed connection. Floor (of the punch without TLS): how much later the other peer
learns of the introduction (profile 4: 20 ms, profile 5: 300 ms) + one round trip for the SYNs to cross + one
round trip for HELLO and PROOF both ways. TLS adds: the difference of the two medians. autocannon reports latency in whole milliseconds (0: under 1 ms). SYNs are counted by
iptables in both hosts (kernel retransmissions included, connections to the server excluded).

${labTable}
`
writeFileSync(path.join(HERE, 'results.md'), markdown)
log(`wrote bench/results.md and bench/results.json in ${results.durationSeconds} s`)
for (const goal of goals) log(`${goal.met ? 'met    ' : 'MISSED '} ${goal.name}: ${goal.measured}`)
