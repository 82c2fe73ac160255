// A relayed tunnel upgrading to a direct path when the NAT that made punching
// impossible stops randomizing, with `punchline expose` and `punchline
// forward` processes as users run them. The forwarder sits behind NAT a,
// which starts as MASQUERADE --random-fully (lab profile 7): the tunnel comes
// up through the relay, and its first try to go direct fails. Then the test
// turns NAT a into plain MASQUERADE (endpoint-independent) while clients keep
// streaming, and drops the NAT's record of the forwarder's server connection
// (made through a random port): the forwarder's new server connection shows
// it at a new public endpoint, so it probes again and the server judges it
// endpoint-independent. The next try races and punches: the tunnel upgrades, later clients take the direct
// path (the relay carries none of their bytes), and the clients that were
// streaming through the relay all along lose and reorder nothing.
// Needs root and the conntrack tool; elsewhere the suite is skipped with the reason.
import { execFileSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { describe, expect, it } from 'vitest'
import { Lab, labUnavailable } from '../../lab/lab.js'
import { oneRandomizingNat } from '../../lab/profiles.js'
import { bulkClient, echoService, resultOf } from '../../lab/scripts.js'
import { watch } from '../../lab/trial.js'
import { UPGRADE_DELAYS_MS } from '../../sdk/tunnel/forward.js'
import { waitFor } from '../helpers.js'

function conntrackMissing (): string | undefined {
  try {
    execFileSync('conntrack', ['--version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'it needs the conntrack tool (apt-get install conntrack)'
  }
}
const unavailable = labUnavailable() ?? conntrackMissing()
if (unavailable !== undefined) console.warn(`NAT laboratory (upgrade) skipped: ${unavailable}`)

const SERVICE_PORT = 7000
const FORWARD_PORT = 2222
/** The forwarder's punch port, so that its server connection can be picked out of NAT a's table. */
const PUNCH_PORT = 40000
const STREAMING_CLIENTS = 3
const LATER_CLIENTS = 3
const MEBIBYTES = 4

// Streams 2 KiB of random bytes every 200 ms (a trickle next to the later clients) until its stdin ends, then half-closes and reads the rest of the echo.
const STREAMING_CLIENT = `
const { createHash, randomBytes } = require('crypto')
const sent = createHash('sha256'), received = createHash('sha256')
let sentBytes = 0, bytes = 0, error
const socket = require('net').connect({ host: '127.0.0.1', port: ${FORWARD_PORT}, allowHalfOpen: true })
socket.on('data', (chunk) => { received.update(chunk); bytes += chunk.length })
socket.on('error', (e) => { error = e.code || e.message })
socket.on('close', () => console.log(JSON.stringify({ sent: sent.digest('hex'), received: received.digest('hex'), sentBytes, bytes, error })))
const timer = setInterval(() => { const chunk = randomBytes(2048); sent.update(chunk); sentBytes += chunk.length; socket.write(chunk) }, 200)
socket.once('connect', () => console.error('connected'))
process.stdin.on('data', () => {}).once('end', () => { clearInterval(timer); socket.end() })
`

/** Bytes the server's relay has carried, both directions. */
function relayedBytes (lab: Lab): number {
  const metrics = lab.run('host-b', process.execPath, ['-e', `fetch('${lab.serverUrl}/metrics').then((r) => r.text()).then(console.log)`])
  return metrics.split('\n').filter((line) => line.startsWith('punchline_relayed_bytes_total{')).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0)
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: a relayed tunnel upgrades to a direct path', () => {
  it('starts relayed behind a randomizing NAT, upgrades once the NAT stops randomizing, and no client loses a byte', async () => {
    const lab = await Lab.create(oneRandomizingNat(20))
    // While NAT a randomizes, no SYN passes between the two NATs: the birthday strategy (one randomizing NAT, the other
    // not) would now and then connect them directly, and this test needs a relayed tunnel to upgrade. Lifted with the randomizing.
    try {
      const joinNats = lab.separateNats()
      const service = lab.spawn('host-b', process.execPath, ['-e', echoService(SERVICE_PORT)])
      await new Promise((resolve) => createInterface({ input: service.stdout! }).once('line', resolve))
      const exposed = watch(lab.punchline('host-b', ['expose', '--server', lab.serverUrl, '--id', 'home', '--to', `127.0.0.1:${SERVICE_PORT}`, '--allow', 'laptop', '--json']))
      await exposed.event('exposing')
      // --keepalive 2: once NAT a forgets the server connection, its next probe finds that out within seconds.
      // --timeout 6: a failed try to go direct costs 6 s (and the first tunnel has time for the head start and the relay).
      const forwarded = watch(lab.punchline('host-a', ['forward', '--server', lab.serverUrl, '--id', 'laptop', '--peer', 'home', '--listen', `127.0.0.1:${FORWARD_PORT}`,
        '--port', String(PUNCH_PORT), '--keepalive', '2', '--timeout', '6', '--json']))
      expect(await forwarded.event('tunnel-up', 30_000)).toMatchObject({ via: 'relay', path: 'relay' })
      await forwarded.event('listening')

      const streaming = Array.from({ length: STREAMING_CLIENTS }, () => lab.spawn('host-a', process.execPath, ['-e', STREAMING_CLIENT]))
      const streamed = streaming.map(resultOf)
      await Promise.all(streaming.map(async (client) => { await new Promise((resolve) => createInterface({ input: client.stderr! }).once('line', resolve)) }))

      // While NAT a randomizes, the first try to go direct fails and the tunnel stays relayed.
      expect(await forwarded.event('tunnel-upgrade-failed', 30_000)).toMatchObject({ peerId: 'home', retryInMs: UPGRADE_DELAYS_MS[1] })

      // NAT a stops randomizing; its record of the server connection (through a random port) goes, the relayed one's stays.
      lab.run('nat-a', 'iptables', ['-t', 'nat', '-R', 'POSTROUTING', '1', '-o', 'wan', '-j', 'MASQUERADE'])
      joinNats()
      lab.run('nat-a', 'conntrack', ['-D', '-p', 'tcp', '--orig-src', lab.addressOf('host-a'), '--orig-port-src', String(PUNCH_PORT)])
      await waitFor(() => forwarded.events().some((event) => event.event === 'mapping' && event.mapping === 'independent'), 30_000, 'the forwarder probing again from its new endpoint')
      const upgraded = await forwarded.event('tunnel-upgraded', 60_000)
      expect(forwarded.events().filter((event) => event.event === 'introduced').at(-1)).toMatchObject({ strategy: 'race', mappings: { self: 'independent', peer: 'independent' } })
      expect(upgraded).toMatchObject({ side: 'forward', peerId: 'home', path: 'public', relayedStreams: STREAMING_CLIENTS, remote: expect.stringMatching(/^100\.64\.2\.2:\d+$/) })
      expect(await exposed.event('tunnel-upgraded')).toMatchObject({ side: 'expose', peerId: 'laptop', path: 'public', relayedStreams: STREAMING_CLIENTS })

      // Later clients take the direct tunnel: the relay carries none of their 2 × 3 × 4 MiB (only the streaming clients' trickle).
      const relayedBefore = relayedBytes(lab)
      const later = await Promise.all(Array.from({ length: LATER_CLIENTS }, async () => await resultOf(lab.spawn('host-a', process.execPath, ['-e', bulkClient(FORWARD_PORT, MEBIBYTES)]))))
      const relayedDuring = relayedBytes(lab) - relayedBefore
      for (const result of later) {
        expect(result.bytes, `${JSON.stringify(result)}: forward: ${forwarded.story(20)}; expose: ${exposed.story(20)}`).toBe(MEBIBYTES * 1048576)
        expect(result.received).toBe(result.sent)
      }
      expect(relayedDuring).toBeLessThan(LATER_CLIENTS * MEBIBYTES * 1048576 / 2)

      // The clients that streamed across the upgrade, over the relay all along: every byte back, in order.
      for (const client of streaming) client.stdin!.end()
      for (const result of await Promise.all(streamed)) {
        expect(result.error, JSON.stringify(result)).toBeUndefined()
        expect(result.bytes).toBe(result.sentBytes)
        expect(result.received).toBe(result.sent)
      }
      // The relayed tunnel ends once they have (the direct one stays).
      const down = await forwarded.event('tunnel-down')
      expect(down).toMatchObject({ peerId: 'home', remote: '100.64.0.2:8080' })
      const events = forwarded.events()
      console.log(`upgrade lab: the relay carried ${relayedDuring} bytes while the later clients moved ${2 * LATER_CLIENTS * MEBIBYTES} MiB over the direct tunnel`)
      expect(events.filter((event) => event.event === 'stream-refused')).toEqual([])
      expect(events.filter((event) => event.event === 'stream-closed')).toHaveLength(STREAMING_CLIENTS + LATER_CLIENTS)
    } finally {
      await lab.destroy()
    }
  }, 180_000)
})
