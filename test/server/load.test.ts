// Load over real HTTP on loopback: thousands of registrations and
// introductions while hundreds of long-polls are held. No errors, and every
// introduction reaches its target (at least once; duplicates are recognised
// by id).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { Agent, request } from 'undici'
import { bearer, buildTestApp, listenOnLoopback, type RegisteredPeer } from '../helpers.js'
import { LIMITS_LIFTED } from '../../lab/limits-lifted.js'

const TARGETS = 300
const REGISTRATIONS = 2000
const INTRODUCTIONS = 3000
const CONCURRENCY = 32

async function inParallel (count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < count) await work(next++) }))
}

describe('load', () => {
  let app: FastifyInstance
  let url: string
  const dispatcher = new Agent({ connections: 64 })
  beforeAll(async () => {
    // Every peer comes from 127.0.0.1: lift the per-address and per-peer limits this test is not about.
    app = await buildTestApp(LIMITS_LIFTED)
    url = await listenOnLoopback(app)
  })
  afterAll(async () => {
    await dispatcher.close()
    await app.close()
  })

  async function call (method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<{ status: number, json: any }> {
    const response = await request(`${url}${path}`, {
      method,
      dispatcher,
      headers: { ...(token !== undefined ? bearer({ token }) : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    return { status: response.statusCode, json: await response.body.json() }
  }

  it(`registers ${REGISTRATIONS} peers and delivers ${INTRODUCTIONS} introductions to ${TARGETS} held long-polls, all of them`, async () => {
    const peers: RegisteredPeer[] = []
    const failures: string[] = []
    await inParallel(REGISTRATIONS, CONCURRENCY, async (index) => {
      const { status, json } = await call('POST', '/v1/peers', undefined, { id: `peer-${index}`, privateEndpoints: [{ address: '10.0.0.1', port: 4000 + (index % 1000) }] })
      if (status === 201) peers.push(json)
      else failures.push(`register ${index}: ${status}`)
    })
    expect(failures).toEqual([])
    const targets = peers.slice(0, TARGETS)
    const initiators = peers.slice(TARGETS, TARGETS + 50)

    // Each target holds a long-poll on its own connection, polling again after every answer.
    const delivered = new Map<string, Set<string>>(targets.map((target) => [target.id, new Set()]))
    let duplicates = 0
    let polling = true
    const pollers = targets.map(async (target) => {
      const own = new Agent({ connections: 1 })
      let cursor = 0
      try {
        while (polling) {
          const response = await request(`${url}/v1/peers/${target.id}/inbox?after=${cursor}&wait=2`, { headers: bearer(target), dispatcher: own })
          const inbox = await response.body.json() as { introductions: Array<{ id: string }>, cursor: number }
          if (response.statusCode !== 200) failures.push(`poll ${target.id}: ${response.statusCode}`)
          for (const introduction of inbox.introductions) {
            if (delivered.get(target.id)!.has(introduction.id)) duplicates++
            delivered.get(target.id)!.add(introduction.id)
          }
          cursor = inbox.cursor
        }
      } finally {
        await own.close()
      }
    })
    const deadlineForPolls = Date.now() + 10_000
    while (app.inboxWaiters.size < TARGETS && Date.now() < deadlineForPolls) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(app.inboxWaiters.size).toBe(TARGETS)

    const created = new Map<string, string>() // introduction id -> target
    await inParallel(INTRODUCTIONS, CONCURRENCY, async (index) => {
      const target = targets[index % TARGETS]!
      const { status, json } = await call('POST', '/v1/introductions', initiators[index % initiators.length]!.token, { target: target.id })
      if (status === 201) created.set(json.id, target.id)
      else failures.push(`introduce ${index}: ${status} ${JSON.stringify(json)}`)
    })
    expect(failures).toEqual([])
    expect(created.size).toBe(INTRODUCTIONS)

    const missing = (): string[] => [...created].filter(([id, target]) => !delivered.get(target)!.has(id)).map(([id]) => id)
    const deadline = Date.now() + 20_000
    while (missing().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    polling = false
    await Promise.all(pollers)
    expect(missing()).toEqual([])
    expect(failures).toEqual([])
    console.log(`load: ${REGISTRATIONS} registrations, ${INTRODUCTIONS} introductions delivered to ${TARGETS} polls, ${duplicates} duplicate deliveries`)
  }, 120_000)
})
