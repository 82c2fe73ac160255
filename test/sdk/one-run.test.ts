// The one-at-a-time background run behind the mapping prober and the IPv6 observer.
import { describe, expect, it } from 'vitest'
import { OneRun } from '../../sdk/one-run.js'

/** A run that ends when told. */
function gate (): { work: () => Promise<void>, open: () => void, started: () => number } {
  let open = (): void => {}
  let started = 0
  const ended = new Promise<void>((resolve) => { open = resolve })
  return { work: async () => { started++; await ended }, open: () => { open() }, started: () => started }
}

describe('OneRun', () => {
  it('starts no second run while one is under way, and a new one once it has ended', async () => {
    const runs = new OneRun()
    const first = gate()
    runs.start(first.work)
    runs.start(first.work)
    expect(first.started()).toBe(1)
    expect(runs.busy).toBe(true)
    first.open()
    await runs.stopped()
    expect(runs.busy).toBe(false)
    const second = gate()
    runs.start(second.work)
    expect(second.started()).toBe(1)
    second.open()
    await runs.stopped()
  })

  it('settled() stops waiting after waitMs for a run that hangs, and at once when none is under way', async () => {
    const runs = new OneRun()
    let started = performance.now()
    await runs.settled(10_000)
    expect(performance.now() - started).toBeLessThan(1_000)
    const hanging = gate()
    runs.start(hanging.work)
    started = performance.now()
    await runs.settled(50)
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(runs.busy).toBe(true)
    hanging.open()
    await runs.settled(10_000)
    expect(runs.busy).toBe(false)
  })
})
