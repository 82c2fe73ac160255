import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { InboxWaiters } from '../../../server/introductions/inbox-waiters.js'

describe('InboxWaiters', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('answers a wait with the introduction stored for its peer, and counts it held until then', async () => {
    const waiters = new InboxWaiters<string>()
    const ticket = waiters.enter('bob')
    const woken = waiters.wait(ticket, 1000)
    expect(waiters.size).toBe(1)
    waiters.wake('alice', 'not for bob')
    waiters.wake('bob', 'for bob')
    await expect(woken).resolves.toEqual({ reason: 'arrived', item: 'for bob' })
    expect(waiters.size).toBe(0)
  })

  it('ends a wait after its timeout, and not a moment before', async () => {
    const waiters = new InboxWaiters<string>()
    let wake: unknown
    void waiters.wait(waiters.enter('bob'), 1000).then((value) => { wake = value })
    await vi.advanceTimersByTimeAsync(999)
    expect(wake).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(wake).toEqual({ reason: 'timeout' })
    expect(waiters.size).toBe(0)
  })

  it('counts a release that came before the wait: a request pipelined behind the poll is never stuck behind it', async () => {
    const waiters = new InboxWaiters<string>()
    const ticket = waiters.enter('bob')
    waiters.release('bob')
    await expect(waiters.wait(ticket, 1000)).resolves.toEqual({ reason: 'released' })
    expect(waiters.size).toBe(0)
  })

  it('ends the wait, and its timer, when the ticket is returned (the client went away, or the poll answered without waiting)', async () => {
    const waiters = new InboxWaiters<string>()
    const ticket = waiters.enter('bob')
    const woken = waiters.wait(ticket, 1000)
    waiters.leave(ticket)
    waiters.leave(ticket)
    await expect(woken).resolves.toEqual({ reason: 'aborted' })
    expect(waiters.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    // A returned ticket is no longer the peer's: a release passes it by.
    waiters.release('bob')
    expect(ticket.released).toBe(false)
  })

  it('releases every held poll when ended, and answers later waits at once', async () => {
    const waiters = new InboxWaiters<string>()
    const held = [waiters.wait(waiters.enter('a'), 1000), waiters.wait(waiters.enter('b'), 1000)]
    waiters.end()
    await expect(Promise.all(held)).resolves.toEqual([{ reason: 'ended' }, { reason: 'ended' }])
    await expect(waiters.wait(waiters.enter('c'), 1000)).resolves.toEqual({ reason: 'ended' })
    expect(vi.getTimerCount()).toBe(0)
  })
})
