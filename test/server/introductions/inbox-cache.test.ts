import { describe, expect, it } from 'vitest'
import { InboxCache } from '../../../server/introductions/inbox-cache.js'
import type { IntroductionRow } from '../../../server/introductions/introductions.js'

const T0 = Date.parse('2026-11-28T00:00:00Z')
const TTL_MS = 60_000

/** An introduction to `targetId` made `atMs` after T0 (only the fields the cache looks at matter). */
function row (seq: number, targetId = 'bob', atMs = seq * 1000): IntroductionRow {
  return { seq, id: `i${seq}`, targetId, initiatorId: 'alice', createdAt: new Date(T0 + atMs), expiresAt: new Date(T0 + atMs + TTL_MS) } as unknown as IntroductionRow
}
const at = (ms: number): Date => new Date(T0 + ms)
const seqs = (rows: IntroductionRow[] | undefined): number[] | undefined => rows?.map((introduction) => introduction.seq)

describe('InboxCache', () => {
  it('knows nothing of an inbox it has not read, and answers from what a read found after that', () => {
    const cache = new InboxCache(100)
    expect(cache.after('bob', 'token-b', 0, at(0), 32)).toBeUndefined()
    cache.learn('bob', 'token-b', 2, [row(3), row(5)])
    expect(seqs(cache.after('bob', 'token-b', 2, at(6000), 32))).toEqual([3, 5])
    expect(seqs(cache.after('bob', 'token-b', 3, at(6000), 32))).toEqual([5])
    expect(seqs(cache.after('bob', 'token-b', 3, at(6000), 1))).toEqual([5])
    expect(seqs(cache.after('bob', 'token-b', 2, at(6000), 1))).toEqual([3])
    // Before what the read covered, or for another registration of the id: unknown.
    expect(cache.after('bob', 'token-b', 1, at(6000), 32)).toBeUndefined()
    expect(cache.after('bob', 'token-new', 2, at(6000), 32)).toBeUndefined()
    expect(cache.after('carol', 'token-c', 2, at(6000), 32)).toBeUndefined()
  })

  it('follows introductions stored for the registration it read, once each, and forgets the inbox for another', () => {
    const cache = new InboxCache(100)
    cache.learn('bob', 'token-b', 0, [row(1)])
    cache.stored(row(1), 'token-b') // a read after the commit had it already
    cache.stored(row(4), 'token-b')
    cache.stored(row(2, 'carol'), 'token-c') // an inbox it never read
    expect(seqs(cache.after('bob', 'token-b', 0, at(5000), 32))).toEqual([1, 4])
    expect(cache.after('carol', 'token-c', 0, at(5000), 32)).toBeUndefined()
    cache.stored(row(6), 'token-new') // bob registered anew: what the cache held is not his inbox
    expect(cache.after('bob', 'token-b', 0, at(7000), 32)).toBeUndefined()
    expect(cache.after('bob', 'token-new', 0, at(7000), 32)).toBeUndefined()
    expect(cache.rows).toBe(0)
  })

  it('answers no expired introduction, and lets expired ones go as new ones come', () => {
    const cache = new InboxCache(100)
    cache.learn('bob', 'token-b', 0, [row(1, 'bob', 0), row(2, 'bob', 30_000)])
    expect(seqs(cache.after('bob', 'token-b', 0, at(TTL_MS + 1), 32))).toEqual([2])
    cache.stored(row(3, 'bob', TTL_MS + 1), 'token-b')
    expect(cache.rows).toBe(2)
    expect(seqs(cache.after('bob', 'token-b', 0, at(TTL_MS + 2), 32))).toEqual([2, 3])
  })

  it('lets acknowledged introductions go, and no longer answers for cursors before them', () => {
    const cache = new InboxCache(100)
    cache.learn('bob', 'token-b', 0, [row(1), row(2), row(3)])
    cache.acknowledged('bob', 2)
    expect(cache.rows).toBe(1)
    expect(seqs(cache.after('bob', 'token-b', 2, at(4000), 32))).toEqual([3])
    expect(cache.after('bob', 'token-b', 1, at(4000), 32)).toBeUndefined()
    cache.acknowledged('bob', 1) // an older acknowledgement changes nothing
    expect(seqs(cache.after('bob', 'token-b', 2, at(4000), 32))).toEqual([3])
  })

  it('holds at most maxRows introductions over all inboxes, giving up the inboxes learnt first', () => {
    const cache = new InboxCache(4)
    cache.learn('bob', 'token-b', 0, [row(1), row(2)])
    cache.learn('carol', 'token-c', 0, [row(3, 'carol'), row(4, 'carol')])
    expect(cache.rows).toBe(4)
    cache.stored(row(5, 'carol'), 'token-c')
    expect(cache.rows).toBe(3)
    expect(cache.after('bob', 'token-b', 0, at(6000), 32)).toBeUndefined()
    expect(seqs(cache.after('carol', 'token-c', 0, at(6000), 32))).toEqual([3, 4, 5])
    cache.learn('dave', 'token-d', 0, [row(6, 'dave'), row(7, 'dave'), row(8, 'dave'), row(9, 'dave'), row(10, 'dave')])
    expect(cache.after('dave', 'token-d', 0, at(11_000), 32)).toBeUndefined()
    expect(cache.rows).toBeLessThanOrEqual(4)
    cache.clear()
    expect(cache.rows).toBe(0)
    expect(cache.peers()).toEqual([])
  })
})
