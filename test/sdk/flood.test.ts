// A flood of introductions at one peer, as attackers within (lifted) server
// limits can send: twelve ids, each introducing itself over and over. The
// victim punches at most its cap at once and one per attacker, queues a few,
// declines the rest as busy; a legitimate peer still connects meanwhile; and
// the event loop keeps turning. (The same attack's figures against the
// unloaded times are measured in bench/flood.ts.)
import { generateKeyPairSync, sign } from 'node:crypto'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { publicKeyText, registrationMessage } from '@punchline/protocol'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { Peer, type PeerEvent } from '../../sdk/index.js'
import { DEFAULT_MAX_PUNCHES, REPEAT_FAILURES } from '../../sdk/punch-slots.js'
import { RendezvousProcess } from '../../lab/rendezvous-process.js'
import { liftedLimitFlags } from '../../lab/limits-lifted.js'

const closing: Array<() => Promise<unknown>> = []
afterEach(async () => { for (const close of closing.splice(0).reverse()) await close() })

const ATTACKERS = 12
const FLOOD_MS = 4000

describe('a flood of introductions', () => {
  it(`keeps the victim at ${DEFAULT_MAX_PUNCHES} punches at once and one per attacker, and lets a legitimate peer through`, async () => {
    const rendezvous = await RendezvousProcess.start({ flags: liftedLimitFlags() })
    closing.push(async () => { await rendezvous.destroy() })
    const events: PeerEvent[] = []
    let running = 0
    let mostRunning = 0
    const perAttacker = new Map<string, number>()
    let mostPerAttacker = 0
    const victim = await Peer.open({
      server: rendezvous.url,
      id: 'victim',
      localAddress: '127.0.0.1',
      privateEndpoints: [],
      punchTimeoutMs: 1500,
      onTrace: (event) => {
        events.push(event)
        if (event.type === 'introduced') {
          running++
          perAttacker.set(event.peerId, (perAttacker.get(event.peerId) ?? 0) + 1)
          mostRunning = Math.max(mostRunning, running)
          mostPerAttacker = Math.max(mostPerAttacker, perAttacker.get(event.peerId)!)
        }
        if (event.type === 'connected' || event.type === 'failed') {
          running--
          perAttacker.set(event.peerId, perAttacker.get(event.peerId)! - 1)
        }
      }
    })
    closing.push(async () => { await victim.close() })

    // The attackers: plain HTTP clients from another loopback address, which the victim then dials (and is refused).
    const agent = new Agent({ connect: { localAddress: '127.0.0.2' } })
    closing.push(async () => { await agent.close() })
    const call = async (method: 'POST', path: string, body: unknown, token?: string): Promise<{ status: number, json: any }> => {
      const response = await request(`${rendezvous.url}${path}`, {
        method,
        dispatcher: agent,
        headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body)
      })
      return { status: response.statusCode, json: await response.body.json() }
    }
    // Each with a key of its own, as anyone can make: a peer without one is not even punched.
    const registerAttacker = async (id: string): Promise<string> => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const key = publicKeyText(publicKey)
      const { challenge } = (await call('POST', '/v1/challenges', {})).json as { challenge: string }
      const proof = { publicKey: key, challenge, signature: sign(null, registrationMessage(challenge, id, key), privateKey).toString('base64url') }
      return (await call('POST', '/v1/peers', { id, privateEndpoints: [], proof })).json.token as string
    }
    const tokens = await Promise.all(Array.from({ length: ATTACKERS }, async (_, n) => await registerAttacker(`attacker-${n}`)))
    const delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
    const floodStarted = Date.now()
    const until = floodStarted + FLOOD_MS
    let introductions = 0
    let aliceDone = false
    const flood = Promise.all(tokens.map(async (token) => {
      while (Date.now() < until || !aliceDone) {
        const { status } = await call('POST', '/v1/introductions', { target: 'victim' }, token)
        if (status === 201) introductions++
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }))

    // Meanwhile, once every attacker's punches have failed REPEAT_FAILURES times (whichever attackers then hold
    // the slots, each may be preempted; a fixed wait left that to the machine's speed), a peer the victim wants to hear from.
    const failuresOf = (id: string): number => events.filter((event) => event.type === 'failed' && event.peerId === id && event.code !== 'PUNCH_ERR_PREEMPTED').length
    const waitUntil = Date.now() + 30_000
    while (!Array.from({ length: ATTACKERS }, (_, n) => failuresOf(`attacker-${n}`)).every((failures) => failures >= REPEAT_FAILURES)) {
      if (Date.now() > waitUntil) throw new Error(`attackers' punches did not fail ${REPEAT_FAILURES} times each within 30 s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const aliceAt = Date.now() - floodStarted
    const alice = await Peer.open({ server: rendezvous.url, id: 'alice', localAddress: '127.0.0.3', privateEndpoints: [] })
    closing.push(async () => { await alice.close() })
    const started = performance.now()
    const connection = await alice.connect('victim', { timeout: 10_000 }).finally(() => { aliceDone = true })
    const waited = performance.now() - started
    connection.socket.destroy()
    await flood
    delay.disable()

    console.log(`flood: ${introductions} introductions from ${ATTACKERS} ids in ${Date.now() - floodStarted} ms; victim ran at most ${mostRunning} punches at once (${mostPerAttacker} per attacker); ` +
      `${events.filter((event) => event.type === 'punch-queued').length} queued, ${events.filter((event) => event.type === 'declined' && event.reason === 'busy').length} declined busy; ` +
      `event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms; ` +
      `alice came at ${aliceAt} ms, her connect() took ${waited.toFixed(0)} ms; ${events.filter((event) => event.type === 'failed' && event.code === 'PUNCH_ERR_PREEMPTED').length} attacker punches preempted`)
    expect(introductions).toBeGreaterThan(4 * DEFAULT_MAX_PUNCHES) // it was a flood
    expect(mostRunning).toBeLessThanOrEqual(DEFAULT_MAX_PUNCHES)
    expect(mostPerAttacker).toBe(1)
    expect(events.some((event) => event.type === 'declined' && event.reason === 'busy')).toBe(true)
    expect(connection.peerId).toBe('victim')
    // The victim made room for alice at once, ending a punch of an attacker whose punches kept failing.
    expect(events.some((event) => event.type === 'failed' && event.code === 'PUNCH_ERR_PREEMPTED')).toBe(true)
    // The attack this replaces held the event loop ~600 ms at a time; the 50 ms goal is measured in bench/.
    expect(delay.max / 1e6).toBeLessThan(500)
  }, 60_000)
})
