// The birthday strategy's bounds, without a network: a PortSockets that only
// records its dials (no packet leaves). An attacker who makes its own mapping
// look endpoint-dependent, and introduces itself over and over under many ids,
// gets one spray at a time from this peer, each within its budget, at its
// observed public address only, with a rest between two.
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { Introduction, Mapping } from '@punchline/protocol'
import { Punch } from '../../../sdk/punch/punch.js'
import { DialBudget } from '../../../sdk/punch/dial-budget.js'
import { SprayGate } from '../../../sdk/punch/spray-gate.js'
import { SPRAY_BUDGET } from '../../../sdk/punch/spray-schedule.js'
import { identityOf } from '../../../sdk/identity/identity.js'
import { peerKeyOf } from '../../../sdk/identity/identity.js'
import type { PortSockets } from '../../../sdk/socket/port-sockets.js'
import type { PunchEvent } from '../../../sdk/trace.js'

const ATTACKER_ADDRESS = '203.0.113.7'
const LOCAL = { host: '0.0.0.0', port: 40000 }

/** Records every dial; the sockets never connect (and are never connected to anything). */
function recordingSockets (): PortSockets & { dials: Array<{ local: number, address: string, port: number, socket: net.Socket }> } {
  const dials: Array<{ local: number, address: string, port: number, socket: net.Socket }> = []
  return {
    dials,
    listen: async () => { throw new Error('not used') },
    dial: (local, remote) => {
      const socket = new net.Socket({ allowHalfOpen: true })
      dials.push({ local: local.port, address: remote.address, port: remote.port, socket })
      return socket
    }
  }
}

const me = identityOf()
const attackerKey = identityOf().key

function introduction (attacker: string, mappings: { self: Mapping, peer: Mapping }): Introduction {
  const now = new Date().toISOString()
  return {
    id: randomUUID(),
    secret: randomBytes(32).toString('base64url'),
    role: 'target',
    self: { id: 'victim', publicEndpoint: { address: '198.51.100.1', port: 40000 }, privateEndpoints: [], publicKey: me.key, mapping: mappings.self },
    // Its private endpoints are only its word: never sprayed, never dialed off a shared network.
    peer: { id: attacker, publicEndpoint: { address: ATTACKER_ADDRESS, port: 5555 }, privateEndpoints: [{ address: '10.9.9.9', port: 22 }], publicKey: attackerKey, mapping: mappings.peer },
    createdAt: now,
    expiresAt: now
  }
}

interface Timed { at: number, event: PunchEvent }

function punch (sockets: PortSockets, gate: SprayGate, attacker: string, timeoutMs: number, events: Timed[], mappings = { self: 'independent' as Mapping, peer: 'dependent' as Mapping }): Promise<unknown> {
  const intro = introduction(attacker, mappings)
  return new Punch({
    introduction: intro, local: LOCAL, sockets, view: { subnets: [], serverOnLoopback: false }, budget: new DialBudget(), timeoutMs, keepAliveMs: 0,
    identity: me, peerKey: peerKeyOf(attackerKey), encrypt: true, sprayGate: gate, onEvent: (event) => events.push({ at: performance.now(), event })
  }).run().catch((error: Error) => error)
}

describe('the spray, against a flood of introductions', () => {
  it('sprays once at a time, within its budget, only at the observed address, with the gap between two', async () => {
    const sockets = recordingSockets()
    const GAP_MS = 500
    const gate = new SprayGate({ gapMs: GAP_MS })
    const events: Timed[] = []
    // Twelve attacker ids at once, each claiming (through its own probe) a dependent mapping.
    await Promise.all(Array.from({ length: 12 }, async (_, n) => await punch(sockets, gate, `attacker-${n}`, 1200, events)))
    const of = (type: PunchEvent['type']): Timed[] => events.filter(({ event }) => event.type === type)
    expect(of('spray-started')).toHaveLength(1)
    // The other eleven waited for the gate (and asked again now and then) until their punches ended.
    expect(new Set(of('spray-waiting').map(({ event }) => event.peerId)).size).toBe(11)
    expect(of('spray-waiting').map(({ event }) => event.peerId)).not.toContain(of('spray-started')[0]!.event.peerId)
    expect(of('failed')).toHaveLength(12)
    const firstWave = sockets.dials.length
    expect(firstWave).toBeGreaterThan(0)
    expect(firstWave).toBeLessThanOrEqual(SPRAY_BUDGET)
    expect(of('spray-ended')[0]!.event).toMatchObject({ role: 'spray', dials: firstWave, reason: 'ended' })
    // Its cost reaches the punch's outcome: the failed event's dials include the spray's.
    expect(of('failed').map(({ event }) => (event as { dials: number }).dials).sort((a, b) => b - a)[0]).toBe(firstWave)

    // The next introduction, right after: it waits for the gap, then sprays.
    await punch(sockets, gate, 'attacker-12', 1500, events)
    expect(of('spray-waiting').at(-1)!.event).toMatchObject({ role: 'spray' })
    expect(of('spray-started')).toHaveLength(2)
    expect(of('spray-started')[1]!.at - of('spray-ended')[0]!.at).toBeGreaterThanOrEqual(GAP_MS - 1)
    expect(sockets.dials.length - firstWave).toBeLessThanOrEqual(SPRAY_BUDGET)

    // Every SYN went from the punch port to the attacker's observed address: never a reported endpoint, never twice to one port per spray.
    expect(new Set(sockets.dials.map((dial) => dial.address))).toEqual(new Set([ATTACKER_ADDRESS]))
    expect(new Set(sockets.dials.map((dial) => dial.local))).toEqual(new Set([LOCAL.port]))
    expect(new Set(sockets.dials.slice(0, firstWave).map((dial) => dial.port)).size).toBe(firstWave)
    expect(sockets.dials.every((dial) => dial.socket.destroyed)).toBe(true)
  }, 20_000)

  it('dials nothing at all when both mappings are dependent, and fails at once', async () => {
    const sockets = recordingSockets()
    const events: Timed[] = []
    const started = performance.now()
    const error = await punch(sockets, new SprayGate(), 'attacker', 10_000, events, { self: 'dependent', peer: 'dependent' })
    expect(performance.now() - started).toBeLessThan(100)
    expect(error).toMatchObject({ code: 'PUNCH_ERR_BOTH_MAPPINGS_DEPENDENT' })
    expect(sockets.dials).toHaveLength(0)
    expect(events.map(({ event }) => event.type)).toEqual(['introduced', 'failed'])
    expect(events[0]!.event).toMatchObject({ strategy: 'relay-now', mappings: { self: 'dependent', peer: 'dependent' } })
    expect(events[1]!.event).toMatchObject({ dials: 0 })
  })
})
