// Deletes expired registrations and introductions, and punch reports past
// their retention, on a fixed interval; counts introductions that expired undelivered.
// Expired rows are already invisible to every query; sweeping only reclaims space.
import fp from 'fastify-plugin'

export interface SweeperPluginOptions {
  sweepIntervalSeconds: number
}

export default fp<SweeperPluginOptions>(async function sweeper (app, { sweepIntervalSeconds }) {
  let running: Promise<void> | undefined
  const sweep = async (): Promise<void> => {
    try {
      const introductions = await app.introductions.sweep()
      app.punchMetrics.introductionsExpired.inc(introductions.undelivered)
      const registrations = await app.registrations.sweep()
      const reports = await app.punchReports.sweep()
      if (introductions.deleted + registrations + reports > 0) app.log.debug({ introductions: introductions.deleted, undelivered: introductions.undelivered, registrations, reports }, 'swept expired rows')
    } catch (error) {
      app.log.error({ err: error }, 'sweeping expired rows failed')
    }
  }
  const timer = setInterval(() => { running ??= sweep().finally(() => { running = undefined }) }, sweepIntervalSeconds * 1000)
  timer.unref()
  app.decorate('sweepExpired', sweep)
  app.addHook('onClose', async () => {
    clearInterval(timer)
    await running
  })
}, { name: 'sweeper', dependencies: ['rendezvous', 'metrics'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs one sweep now (the interval runs it on its own). */
    sweepExpired: () => Promise<void>
  }
}
