// Deletes expired registrations and introductions on a fixed interval.
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
      const registrations = await app.registrations.sweep()
      if (introductions + registrations > 0) app.log.debug({ introductions, registrations }, 'swept expired rows')
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
}, { name: 'sweeper', dependencies: ['rendezvous'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs one sweep now (the interval runs it on its own). */
    sweepExpired: () => Promise<void>
  }
}
