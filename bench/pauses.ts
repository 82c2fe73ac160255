// What held a process back over a window: its event loop's delay and its
// longest garbage-collection pause. Used in the benchmark
// servers (server-process.ts) and in the load generators beside them (the
// idle and push benchmarks), whose own pauses are in what they measure too.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks'

export interface Pauses {
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  longestGcMs: number
}

/** Starts watching this process; `take()` reports the window since the start or the last take and starts the next. */
export function watchPauses (): { take: () => Pauses, stop: () => void } {
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  loopDelay.enable()
  let longestGcMs = 0
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longestGcMs = Math.max(longestGcMs, entry.duration)
  })
  gc.observe({ entryTypes: ['gc'] })
  return {
    take: () => {
      const pauses = { loopDelayP99Ms: loopDelay.percentile(99) / 1e6, loopDelayMaxMs: loopDelay.max / 1e6, longestGcMs }
      loopDelay.reset()
      longestGcMs = 0
      return pauses
    },
    stop: () => {
      loopDelay.disable()
      gc.disconnect()
    }
  }
}
