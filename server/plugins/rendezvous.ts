// Decorates the app with the rendezvous domain: registrations (held in memory,
// written behind) and the challenges of registrations with a key, introductions, punch reports, the group commit their
// durable writes share, and the waiters of held long-polls, which are released
// before the server closes so that shutdown never waits for a poll to time out.
// On PostgreSQL it also listens to the other instances (db/notifications.ts).
import fp from 'fastify-plugin'
import { GroupCommit } from '../db/group-commit.js'
import { NO_NOTIFICATIONS, PostgresNotifications, type Notice, type Notifications } from '../db/notifications.js'
import { InboxWaiters } from '../introductions/inbox-waiters.js'
import { Introductions, type IntroductionRow } from '../introductions/introductions.js'
import { LiveRegistrations } from '../registrations/live-registrations.js'
import { Registrations, type Clock } from '../registrations/registrations.js'
import { Challenges } from '../registrations/challenges.js'
import { lockRegistrations } from '../registrations/row-locks.js'
import { PunchReports } from '../punch-reports/punch-reports.js'

declare module 'fastify' {
  interface FastifyInstance {
    registrations: Registrations
    challenges: Challenges
    liveRegistrations: LiveRegistrations
    introductions: Introductions
    inboxWaiters: InboxWaiters<IntroductionRow>
    punchReports: PunchReports
    groupCommit: GroupCommit
  }
}

export interface RendezvousPluginOptions {
  introductionTtlSeconds: number
  maxPendingIntroductions: number
  maxRegistrationsPerAddress: number
  ipv6PrefixLength: number
  livenessWriteIntervalSeconds: number
  idReservationDays: number
  now: Clock
}

export default fp<RendezvousPluginOptions>(async function rendezvous (app, options) {
  const { now } = options
  const { prisma, database: { dialect, location } } = app
  const commit = new GroupCommit(prisma, dialect === 'postgresql' ? lockRegistrations : undefined)
  const live = new LiveRegistrations({ prisma, dialect, commit, now, writeIntervalMs: options.livenessWriteIntervalSeconds * 1000, ipv6PrefixLength: options.ipv6PrefixLength, log: app.log })
  const waiters = new InboxWaiters<IntroductionRow>()
  // Filled in below: the handlers need the introductions, which need the notifications.
  let introductions: Introductions | undefined
  const onNotice = (notice: Notice): void => {
    if (notice.kind === 'registration') {
      live.forget(notice.peerId)
      return
    }
    if (notice.kind === 'mapping') {
      live.adoptMapping(notice.peerId, notice.tokenHash, notice.record)
      return
    }
    if (notice.kind === 'ipv6') {
      live.adoptIpv6(notice.peerId, notice.tokenHash, notice.record)
      return
    }
    introductions?.heads.raise(notice.row.targetId, notice.row.seq)
    introductions?.inbox.forget(notice.row.targetId) // stored by another instance: its registration's token digest is not in the notice
    waiters.wake(notice.row.targetId, notice.row)
  }
  const notifications: Notifications = dialect === 'postgresql'
    ? await PostgresNotifications.listen(location, {
      notice: onNotice,
      // What was missed is unknown: read inboxes again, and let held polls ask again.
      resumed: () => {
        introductions?.heads.clear()
        introductions?.inbox.clear()
        waiters.releaseAll()
      }
    }, app.log)
    : NO_NOTIFICATIONS
  const shared = { prisma, dialect, now, live, commit, notifications }
  introductions = new Introductions({ ...shared, ttlSeconds: options.introductionTtlSeconds, maxPending: options.maxPendingIntroductions })
  app.decorate('groupCommit', commit)
  app.decorate('liveRegistrations', live)
  const challenges = new Challenges(now)
  app.decorate('challenges', challenges)
  app.decorate('registrations', new Registrations({
    ...shared, maxPerAddress: options.maxRegistrationsPerAddress, ipv6PrefixLength: options.ipv6PrefixLength, challenges, reservationMs: options.idReservationDays * 86_400_000
  }))
  app.decorate('introductions', introductions)
  app.decorate('inboxWaiters', waiters)
  const punchReports = new PunchReports(prisma, now, commit)
  app.decorate('punchReports', punchReports)
  // The statistics are built in the background from the stored reports, once the server is up.
  let loading: Promise<void> | undefined
  app.addHook('onReady', async () => {
    loading = punchReports.load().then(
      (reports) => { app.log.info({ reports }, 'punch statistics built from the stored reports') },
      (error: unknown) => { app.log.error({ err: error }, 'building the punch statistics failed') }
    )
  })
  app.addHook('preClose', async () => {
    waiters.end()
    punchReports.stop()
    await loading
  })
  app.addHook('onClose', async () => {
    await commit.settled()
    await live.close()
    await notifications.close()
  })
}, { name: 'rendezvous', dependencies: ['database'] })
