// Punches under SYN loss (root; not part of `npm run bench`): two NATs, resetting (profile 1) or
// dropping (UNSOLICITED=drop, profile 2) unsolicited SYNs, DELAY ms per WAN link, and in both NATs a
// rule that drops LOSS of the peers' SYNs at random (iptables -m statistic). N trials with
// --no-encrypt; prints how many connected how, the SYNs dropped per NAT, and the times to connect.
// STORY=1 prints each slow trial's dials. README, "Retry schedule", has what it measured.
//   N=100 LOSS=0.15 [UNSOLICITED=drop] tsx --conditions=@punchline/source bench/syn-loss.ts
import { Lab, SERVER_ADDRESS, labUnavailable, twoNats } from '../lab/lab.js'
import { trial, dialStory, brief } from '../lab/trial.js'
import { quantile } from '../lab/statistics.js'
const N = Number(process.env.N ?? 60); const DELAY = Number(process.env.DELAY ?? 20); const LOSS = Number(process.env.LOSS ?? 0.15)
const unavailable = labUnavailable()
if (unavailable !== undefined) {
  console.log(`skipped: ${unavailable}`)
  process.exit(0)
}
const lab = await Lab.create(twoNats(process.env.UNSOLICITED === 'drop' ? 'drop' : 'reset', DELAY))
try {
  for (const nat of ['nat-a', 'nat-b']) lab.run(nat, 'iptables', ['-I', 'FORWARD', '-p', 'tcp', '--syn', '!', '-d', SERVER_ADDRESS, '!', '-s', SERVER_ADDRESS, '-m', 'statistic', '--mode', 'random', '--probability', String(LOSS), '-j', 'DROP'])
  const times: number[] = []; const via: Record<string, number> = {}; let failed = 0
  for (let n = 1; n <= N; n++) {
    try {
      const r = await trial(lab, n, { a: 'host-a', b: 'host-b', flags: ['--no-encrypt'] })
      times.push(r.elapsedMs); via[r.via] = (via[r.via] ?? 0) + 1
      if (r.elapsedMs > 1000 && process.env.STORY === '1') { console.log(`--- trial ${n}: ${Math.round(r.elapsedMs)} ms via ${r.via}`); console.log('A dials:', dialStory(r.a)); console.log('B dials:', dialStory(r.b)); console.log('A:', brief(r.a).slice(0, 1500)); console.log('B:', brief(r.b).slice(0, 1500)); console.log('B seq:', r.b.events.filter((e) => ['dial', 'dial-failed'].includes(e.event)).slice(0, 40).map((e) => `${Math.round(e.elapsedMs)} ${e.event} ${e.code ?? ''}`).join(', ')); console.log('A seq:', r.a.events.filter((e) => ['dial', 'dial-failed', 'accepted', 'connected-raw'].includes(e.event)).slice(0, 40).map((e) => `${Math.round(e.elapsedMs)} ${e.event} ${e.code ?? ''}`).join(', ')) }
    } catch (e) { failed++; console.log(String(e).slice(0, 300)) }
  }
  times.sort((a, b) => a - b)
  const dropped = ['nat-a', 'nat-b'].map((nat) => lab.run(nat, 'iptables', ['-L', 'FORWARD', '-v', '-x', '-n']).split('\n').find((l) => l.includes('statistic'))?.trim().split(/\s+/)[0])
  console.log(JSON.stringify({ N, DELAY, LOSS, failed, via, dropped, p50: quantile(times, 0.5), p90: quantile(times, 0.9), p95: quantile(times, 0.95), max: times.at(-1), over1s: times.filter((t) => t > 1000).length, times: times.map(Math.round) }))
} finally { await lab.destroy() }
