// Reflection and amplification, attacked across real NATs: a stranger
// registers with private endpoints that point at third parties and
// introduces itself to a `punchline peer` again and again. Measured at the
// third parties themselves (iptables counters in their namespaces): what a
// victim sends to a host it shares no network with (nothing), and to hosts on
// its own LAN (no more than the punch budget). Before the address-safety
// policy, one introduction made a victim send 6,800-10,000 SYNs.
// Needs root; elsewhere the suite is skipped with the reason.
import { describe, expect, it } from 'vitest'
import { Lab, labUnavailable, twoNats } from '../../lab/lab.js'
import { REGISTER_WITH_KEY } from '../../lab/scripts.js'
import { watch } from '../../lab/trial.js'
import { MAX_DIALS_PER_CANDIDATE, MAX_FAILED_CONNECTIONS_PER_CANDIDATE } from '../../sdk/punch/schedule.js'

const unavailable = labUnavailable()
if (unavailable !== undefined) console.warn(`NAT laboratory (reflection) skipped: ${unavailable}`)

const PORT = 6379
const INTRODUCTIONS = 3

/** An attacker's script: register pointing at third parties, try what the server must refuse, introduce itself N times. */
const attacker = (server: string): string => `${REGISTER_WITH_KEY}
const call = async (path, body, token) => {
  const response = await fetch('${server}' + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) }, body: JSON.stringify(body) })
  return { status: response.status, body: await response.json() }
}
const refused = []
for (const address of ['127.0.0.1', '169.254.169.254', '100.64.11.2', '8.8.8.8']) {
  refused.push((await registerWithKey('${server}', { id: 'probe', privateEndpoints: [{ address, port: ${PORT} }] })).status)
}
const { body: me } = await registerWithKey('${server}', { id: 'mallory', privateEndpoints: [{ address: '10.0.1.9', port: ${PORT} }, { address: '10.0.1.10', port: ${PORT} }, { address: '192.168.77.7', port: ${PORT} }] })
const made = []
for (let n = 0; n < ${INTRODUCTIONS}; n++) {
  made.push((await call('/v1/introductions', { target: 'victim' }, me.token)).status)
  await new Promise((resolve) => setTimeout(resolve, 3500)) // the victim's punch (2 s) ends meanwhile
}
console.log(JSON.stringify({ refused, made }))
`

/** A third party's count of SYNs to PORT, read from its INPUT counter. */
function synCount (lab: Lab, namespace: string, chain = 'INPUT'): number {
  const listing = lab.run(namespace, 'iptables', ['-L', chain, '-v', '-x', '-n'])
  const line = listing.split('\n').find((candidate) => candidate.includes(`dpt:${PORT}`))
  if (line === undefined) throw new Error(`no counter in ${namespace}: ${listing}`)
  return Number(line.trim().split(/\s+/)[0])
}

describe.skipIf(unavailable !== undefined)('NAT laboratory: reflection through introductions', () => {
  it('sends nothing to third parties off the victim\'s network, and within the punch budget to those on it', async () => {
    const spec = twoNats('reset', 0)
    spec.hosts.push({ name: 'refuser', nat: 'a', address: '10.0.1.9' }, { name: 'closer', nat: 'a', address: '10.0.1.10' })
    const lab = await Lab.create(spec)
    try {
      const count = ['-p', 'tcp', '--syn', '--dport', String(PORT), '-j', 'ACCEPT']
      lab.run('refuser', 'iptables', ['-A', 'INPUT', ...count])
      lab.run('closer', 'iptables', ['-A', 'INPUT', ...count])
      // What leaves the victim's LAN for 192.168.77.7 passes NAT a's FORWARD chain.
      lab.run('nat-a', 'iptables', ['-A', 'FORWARD', '-d', '192.168.77.7', ...count])
      // The closer accepts every connection and closes it at once, counting them.
      const closer = lab.spawn('closer', process.execPath, ['-e', `let n = 0; require('net').createServer((s) => { n++; s.destroy() }).listen(${PORT}, '10.0.1.10'); process.on('SIGTERM', () => { console.log(n); process.exit(0) })`])
      let accepted = ''
      closer.stdout!.on('data', (chunk: Buffer) => { accepted += chunk.toString() })

      const victim = watch(lab.punchline('host-a', ['peer', '--server', lab.serverUrl, '--id', 'victim', '--timeout', '2', '--json']))
      await victim.event('registered')
      const mallory = lab.spawn('host-b', process.execPath, ['--input-type=module', '-e', attacker(lab.serverUrl)])
      let report = ''
      mallory.stdout!.on('data', (chunk: Buffer) => { report += chunk.toString() })
      await new Promise((resolve) => mallory.once('exit', resolve))
      const { refused, made } = JSON.parse(report) as { refused: number[], made: number[] }
      const closed = new Promise((resolve) => closer.once('exit', resolve))
      closer.kill('SIGTERM')
      await closed

      const introduced = victim.events().filter((event) => event.event === 'introduced')
      const figures = { refuser: synCount(lab, 'refuser'), closer: synCount(lab, 'closer'), closerConnections: Number(accepted.trim()), offNetwork: synCount(lab, 'nat-a', 'FORWARD') }
      console.log(`reflection lab: ${INTRODUCTIONS} introductions; SYNs to a refusing host on the victim's LAN ${figures.refuser}, to one that accepts and closes ${figures.closer} (${figures.closerConnections} connections), off the victim's network ${figures.offNetwork}; not dialed: ${JSON.stringify(introduced[0]?.skipped)}`)

      expect(refused).toEqual([400, 400, 400, 400]) // loopback, link-local, carrier-grade and public addresses are no private endpoints
      expect(made).toEqual(Array(INTRODUCTIONS).fill(201))
      expect(introduced).toHaveLength(INTRODUCTIONS)
      expect(figures.offNetwork).toBe(0)
      expect(figures.refuser).toBeGreaterThan(0) // on the victim's LAN the stranger's word is tried, within budget
      expect(figures.refuser).toBeLessThanOrEqual(INTRODUCTIONS * MAX_DIALS_PER_CANDIDATE.private)
      expect(figures.closer).toBeLessThanOrEqual(INTRODUCTIONS * MAX_DIALS_PER_CANDIDATE.private)
      expect(figures.closerConnections).toBeLessThanOrEqual(INTRODUCTIONS * MAX_FAILED_CONNECTIONS_PER_CANDIDATE)
      expect(introduced[0]?.skipped).toContainEqual(expect.stringMatching(/^private 192\.168\.77\.7:6379: not on a shared network$/))
    } finally {
      await lab.destroy()
    }
  }, 120_000)
})
