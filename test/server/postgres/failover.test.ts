// Two `punchline serve` processes on one PostgreSQL database; one is killed
// with SIGKILL while its peers poll it and introductions stream in through
// both. Its peers re-register on the other instance with their tokens and
// poll there: every introduction that got a 201 reaches its target.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../../server/package-root.js'
import { bearer, registerOverHttp, type RegisteredPeer } from '../../helpers.js'
import { startTestPostgres } from '../../postgres.js'
import { liftedLimitFlags } from '../../../lab/limits-lifted.js'

const BIN = path.join(PACKAGE_ROOT, 'bin', 'punchline.js')
const PEERS = 6
const postgres = await startTestPostgres()

const running: ChildProcessWithoutNullStreams[] = []
afterEach(() => { for (const child of running.splice(0)) child.kill('SIGKILL') })

async function serve (databaseUrl: string): Promise<{ child: ChildProcessWithoutNullStreams, url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--db', databaseUrl, ...liftedLimitFlags()])
  running.push(child)
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line)
    if (typeof entry.docs === 'string') return { child, url: entry.url as string }
  }
  throw new Error('server exited before listening')
}

interface Inbox { introductions: Array<{ id: string }>, cursor: number }

describe.skipIf(postgres.skipReason !== undefined)('an instance killed while its peers poll', () => {
  it('loses no acknowledged introduction: its peers move to the other instance and receive every one', async () => {
    const database = await postgres.database()
    const first = await serve(database)
    const second = await serve(database)
    const alice = await registerOverHttp(second.url, { id: 'alice' })
    const targets: RegisteredPeer[] = []
    for (let n = 0; n < PEERS; n++) targets.push(await registerOverHttp(first.url, { id: `target-${n}` }))

    // Each target polls the first instance until it dies, then re-registers (renews with its token) on the second and polls there.
    const delivered = new Map(targets.map((target) => [target.id, new Set<string>()]))
    const moved = new Set<string>()
    let polling = true
    const pollers = targets.map(async (target) => {
      let server = first.url
      let cursor = 0
      while (polling) {
        try {
          const response = await fetch(`${server}/v1/peers/${target.id}/inbox?wait=1&after=${cursor}`, { headers: bearer(target) })
          const inbox = await response.json() as Inbox
          for (const introduction of inbox.introductions) delivered.get(target.id)!.add(introduction.id)
          cursor = inbox.cursor
        } catch {
          if (server === second.url) throw new Error(`${target.id} lost the second instance`)
          const renewed = await fetch(`${second.url}/v1/peers`, { method: 'POST', headers: { ...bearer(target), 'content-type': 'application/json' }, body: JSON.stringify({ id: target.id, privateEndpoints: [] }) })
          expect(renewed.status).toBe(200)
          server = second.url
          moved.add(target.id)
        }
      }
    })

    // Introductions through both instances, to every target, until well after the kill.
    const acknowledged = new Map<string, string>() // introduction id -> target id
    let killed = false
    let streaming = true
    const stream = async (server: string, offset: number): Promise<void> => {
      for (let n = offset; streaming; n += 2) {
        const target = targets[n % PEERS]!
        try {
          const response = await fetch(`${server}/v1/introductions`, { method: 'POST', headers: { ...bearer(alice), 'content-type': 'application/json' }, body: JSON.stringify({ target: target.id }) })
          if (response.status === 201) acknowledged.set((await response.json() as { id: string }).id, target.id)
        } catch {
          if (server === second.url) throw new Error('the second instance failed')
          return // the first instance died with this request in flight
        }
      }
    }
    const streams = [stream(first.url, 0), stream(second.url, 1)]
    while (acknowledged.size < 100) await new Promise((resolve) => setTimeout(resolve, 5))
    first.child.kill('SIGKILL')
    killed = true
    const countAtKill = acknowledged.size
    while (moved.size < PEERS || acknowledged.size < countAtKill + 100) await new Promise((resolve) => setTimeout(resolve, 20))

    const missing = (): string[] => [...acknowledged].filter(([id, target]) => !delivered.get(target)!.has(id)).map(([id]) => id)
    streaming = false
    await Promise.all(streams)
    const deadline = Date.now() + 10_000
    while (missing().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    polling = false
    await Promise.all(pollers)
    expect(killed).toBe(true)
    expect(moved.size).toBe(PEERS)
    expect(missing()).toEqual([])
    console.log(`failover: ${acknowledged.size} introductions acknowledged (${countAtKill} before the kill), all delivered; ${PEERS} peers moved`)
  }, 90_000)
})
