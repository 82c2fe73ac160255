// Decorates the app with the rendezvous domain: registrations, introductions
// and the waiters of held long-polls, which are released before the server
// closes so that shutdown never waits for a poll to time out.
import fp from 'fastify-plugin'
import { InboxWaiters } from '../introductions/inbox-waiters.js'
import { Introductions, type IntroductionRow } from '../introductions/introductions.js'
import { Registrations, type Clock } from '../registrations/registrations.js'
import { PunchReports } from '../punch-reports/punch-reports.js'

declare module 'fastify' {
  interface FastifyInstance {
    registrations: Registrations
    introductions: Introductions
    inboxWaiters: InboxWaiters<IntroductionRow>
    punchReports: PunchReports
  }
}

export interface RendezvousPluginOptions {
  introductionTtlSeconds: number
  maxPendingIntroductions: number
  maxRegistrationsPerAddress: number
  now: Clock
}

export default fp<RendezvousPluginOptions>(async function rendezvous (app, options) {
  const { now } = options
  app.decorate('registrations', new Registrations(app.prisma, now, { maxPerAddress: options.maxRegistrationsPerAddress }))
  app.decorate('introductions', new Introductions(app.prisma, now, { ttlSeconds: options.introductionTtlSeconds, maxPending: options.maxPendingIntroductions }))
  app.decorate('inboxWaiters', new InboxWaiters<IntroductionRow>())
  const punchReports = new PunchReports(app.prisma, now)
  app.decorate('punchReports', punchReports)
  let loading: Promise<void> | undefined
  app.addHook('onReady', async () => {
    loading = punchReports.load().then(
      (reports) => { app.log.info({ reports }, 'punch statistics built from the stored reports') },
      (error: unknown) => { app.log.error({ err: error }, 'building the punch statistics failed') }
    )
  })
  app.addHook('preClose', async () => {
    punchReports.stop()
    await loading
  })
  app.addHook('preClose', async () => { app.inboxWaiters.end() })
}, { name: 'rendezvous', dependencies: ['database'] })
