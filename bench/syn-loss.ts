// Punches under SYN loss (root; not part of `npm run bench`): two NATs, resetting (profile 1) or
// dropping (UNSOLICITED=drop, profile 2) unsolicited SYNs, DELAY ms per WAN link, and in both NATs a
// rule that drops LOSS of the peers' SYNs at random (iptables -m statistic). N trials with
// --no-encrypt; prints how many connected how, the SYNs dropped per NAT, and the times to connect.
// STORY=1 prints each slow trial's dials. README, "Retry schedule", has what it measured.
//   N=100 LOSS=0.15 [UNSOLICITED=drop] tsx --conditions=@punchline/source bench/syn-loss.ts
import { Lab, SERVER_ADDRESS, labUnavailable, twoNats } from '../lab/lab.js'
import { trial, dialStory, brief, type PeerRun } from '../lab/trial.js'
import { quantile } from '../lab/statistics.js'

const N = Number(process.env.N ?? 60)
const DELAY = Number(process.env.DELAY ?? 20)
const LOSS = Number(process.env.LOSS ?? 0.15)
const NATS = ['nat-a', 'nat-b']
/** A trial slower than this is a slow one (STORY=1 prints its dials). */
const SLOW_MS = 1000

/** A peer's dials and connections in order, with their times: what STORY=1 prints of a slow trial. */
function sequence (run: PeerRun, events: string[]): string {
  return run.events.filter((event) => events.includes(event.event)).slice(0, 40)
    .map((event) => `${Math.round(event.elapsedMs)} ${event.event} ${event.code ?? ''}`).join(', ')
}

const unavailable = labUnavailable()
if (unavailable !== undefined) {
  console.log(`skipped: ${unavailable}`)
  process.exit(0)
}
const lab = await Lab.create(twoNats(process.env.UNSOLICITED === 'drop' ? 'drop' : 'reset', DELAY))
try {
  for (const nat of NATS) {
    lab.run(nat, 'iptables', ['-I', 'FORWARD', '-p', 'tcp', '--syn', '!', '-d', SERVER_ADDRESS, '!', '-s', SERVER_ADDRESS,
      '-m', 'statistic', '--mode', 'random', '--probability', String(LOSS), '-j', 'DROP'])
  }
  const times: number[] = []
  const via: Record<string, number> = {}
  let failed = 0
  for (let n = 1; n <= N; n++) {
    try {
      const result = await trial(lab, n, { a: 'host-a', b: 'host-b', flags: ['--no-encrypt'] })
      times.push(result.elapsedMs)
      via[result.via] = (via[result.via] ?? 0) + 1
      if (result.elapsedMs > SLOW_MS && process.env.STORY === '1') {
        console.log(`--- trial ${n}: ${Math.round(result.elapsedMs)} ms via ${result.via}`)
        console.log('A dials:', dialStory(result.a))
        console.log('B dials:', dialStory(result.b))
        console.log('A:', brief(result.a).slice(0, 1500))
        console.log('B:', brief(result.b).slice(0, 1500))
        console.log('B seq:', sequence(result.b, ['dial', 'dial-failed']))
        console.log('A seq:', sequence(result.a, ['dial', 'dial-failed', 'accepted', 'connected-raw']))
      }
    } catch (error) {
      failed++
      console.log(String(error).slice(0, 300))
    }
  }
  times.sort((a, b) => a - b)
  // The statistic rule's packet count: the SYNs it dropped in that NAT.
  const dropped = NATS.map((nat) => lab.run(nat, 'iptables', ['-L', 'FORWARD', '-v', '-x', '-n']).split('\n')
    .find((line) => line.includes('statistic'))?.trim().split(/\s+/)[0])
  console.log(JSON.stringify({
    N, DELAY, LOSS, failed, via, dropped,
    p50: quantile(times, 0.5), p90: quantile(times, 0.9), p95: quantile(times, 0.95), max: times.at(-1),
    over1s: times.filter((time) => time > SLOW_MS).length,
    times: times.map(Math.round)
  }))
} finally {
  await lab.destroy()
}
