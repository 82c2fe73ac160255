// One punch trial in the laboratory, shared by the lab test and the lab
// benchmark: B waits, A connects, each sends a line and ends; both must print
// the other's line and exit 0. Throws with both peers' traces otherwise.
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import type { Lab } from './lab.js'

export const TRIAL_TIMEOUT_MS = 30_000

export interface PeerRun {
  events: Array<Record<string, any>>
  /** stdout as UTF-8 text, and as it came. */
  stdout: string
  output: Buffer
  code: number | null
}

export interface TrialResult {
  via: string
  path: string
  /** The endpoint A's connection goes to, and B's ("[2001:db8::1]:4000" for IPv6). */
  remote: string
  peerRemote: string
  /** From A receiving the introduction to A's confirmed connection. */
  elapsedMs: number
  /** A's dials. */
  dials: number
  peerVia: string
  peerDials: number
  /** Connections A closed because they failed authentication: "remote: reason". */
  rejected: string[]
  a: PeerRun
  b: PeerRun
}

/** Collects a `punchline peer --json` process's events and output. */
export function watch (child: ChildProcess): { done: Promise<PeerRun>, event: (name: string, withinMs?: number) => Promise<Record<string, any>>, events: () => Array<Record<string, any>>, story: (count?: number) => string, received: () => number } {
  const events: Array<Record<string, any>> = []
  const waiting = new Map<string, Array<(event: Record<string, any>) => void>>()
  const chunks: Buffer[] = []
  let received = 0
  child.stdout!.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    received += chunk.length
  })
  createInterface({ input: child.stderr! }).on('line', (line) => {
    let event: Record<string, any>
    try {
      event = JSON.parse(line)
    } catch {
      event = { event: 'stderr', line }
    }
    events.push(event)
    for (const resolve of waiting.get(event.event) ?? []) resolve(event)
    waiting.delete(event.event)
  })
  const done = new Promise<PeerRun>((resolve) => child.once('exit', (code) => {
    const output = Buffer.concat(chunks)
    resolve({ events, stdout: output.toString(), output, code })
  }))
  /** The latest `count` events but the dials, as JSON: what to print when something went wrong. */
  const story = (count = 12): string => JSON.stringify(events.filter((event) => !String(event.event).startsWith('dial')).slice(-count))
  /** The first event of that name; rejects with the latest events when the process exits first, or after `withinMs`. */
  const event = async (name: string, withinMs?: number): Promise<Record<string, any>> => {
    const seen = events.find((candidate) => candidate.event === name)
    if (seen !== undefined) return seen
    let timer: NodeJS.Timeout | undefined
    return await new Promise<Record<string, any>>((resolve, reject) => {
      waiting.set(name, [...waiting.get(name) ?? [], resolve])
      void done.then(() => { reject(new Error(`peer exited before "${name}": ${story()}`)) })
      if (withinMs !== undefined) timer = setTimeout(() => { reject(new Error(`no "${name}" within ${withinMs} ms: ${story()}`)) }, withinMs)
    }).finally(() => { clearTimeout(timer) })
  }
  return { done, event, events: () => events, story, received: () => received }
}

/** A peer's events without the individual dials: what to read when a trial goes wrong. */
export function brief (run: PeerRun): string {
  return run.events.filter((event) => !['dial', 'dial-failed'].includes(event.event))
    .map((event) => `${event.elapsedMs as number ?? ''} ${event.event as string} ${event.remote as string ?? ''} ${event.reason as string ?? event.message as string ?? ''}`.trim())
    .join(' | ')
}

/**
 * A peer's dials in brief, per candidate: how many, over which span of the
 * punch, how they failed, and the longest pause between two: what to read when
 * a punch that should have come up did not.
 */
export function dialStory (run: PeerRun): string {
  const byCandidate = new Map<string, { times: number[], failures: Map<string, number>, limited: number }>()
  const of = (candidate: string): { times: number[], failures: Map<string, number>, limited: number } => {
    let entry = byCandidate.get(candidate)
    if (entry === undefined) byCandidate.set(candidate, entry = { times: [], failures: new Map(), limited: 0 })
    return entry
  }
  for (const event of run.events) {
    if (event.event === 'dial') of(event.candidate).times.push(event.elapsedMs)
    else if (event.event === 'dial-failed') of(event.candidate).failures.set(event.code, (of(event.candidate).failures.get(event.code) ?? 0) + 1)
    else if (event.event === 'dial-limited') of(event.candidate).limited++
  }
  return [...byCandidate].map(([candidate, { times, failures, limited }]) => {
    const longestPause = times.slice(1).reduce((longest, time, i) => Math.max(longest, time - times[i]!), 0)
    return `${candidate}: ${times.length} dials from ${times[0] ?? '-'} to ${times.at(-1) ?? '-'} ms, longest pause ${longestPause.toFixed(1)} ms; ` +
      `failed ${[...failures].map(([code, count]) => `${code} ${count}`).join(', ') || 'never'}; limited ${limited}`
  }).join('; ') || 'no dials'
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

export interface TrialOptions {
  a: string
  b: string
  bPort?: number | undefined
  /** Random bytes each side sends instead of a line, checked by SHA-256 on the other side. */
  payloadBytes?: number | undefined
  /** More `punchline peer` options for both sides. */
  flags?: string[] | undefined
  /** Start A only once B knows its NAT's mapping (so that the introduction carries it). */
  awaitMapping?: boolean | undefined
}

export async function trial (lab: Lab, n: number, options: TrialOptions): Promise<TrialResult> {
  const aId = `a${n}`
  const bId = `b${n}`
  const common = ['peer', '--server', lab.serverUrl, '--json', '--timeout', '10', ...options.flags ?? []]
  const b = lab.punchline(options.b, [...common, '--id', bId, ...(options.bPort !== undefined ? ['--port', String(options.bPort)] : [])])
  const bWatch = watch(b)
  await bWatch.event('registered')
  if (options.awaitMapping === true) await bWatch.event('mapping')
  const a = lab.punchline(options.a, [...common, '--id', aId, '--connect', bId])
  const aWatch = watch(a)
  const fromA = options.payloadBytes === undefined ? Buffer.from(`from ${aId}\n`) : randomBytes(options.payloadBytes)
  const fromB = options.payloadBytes === undefined ? Buffer.from(`from ${bId}\n`) : randomBytes(options.payloadBytes)
  // A peer that fails exits before reading its input: that is for the trial to report, not an EPIPE to crash on.
  a.stdin!.on('error', () => {})
  b.stdin!.on('error', () => {})
  a.stdin!.end(fromA)
  b.stdin!.end(fromB)
  const timer = setTimeout(() => { a.kill('SIGKILL'); b.kill('SIGKILL') }, TRIAL_TIMEOUT_MS)
  const [aRun, bRun] = await Promise.all([aWatch.done, bWatch.done])
  clearTimeout(timer)
  const connected = aRun.events.find((event) => event.event === 'connected')
  const peerConnected = bRun.events.find((event) => event.event === 'connected')
  const ok = aRun.code === 0 && bRun.code === 0 && sha256(bRun.output) === sha256(fromA) && sha256(aRun.output) === sha256(fromB) &&
    connected !== undefined && peerConnected !== undefined && peerConnected.introductionId === connected.introductionId
  if (!ok) {
    const printed = (run: PeerRun): string => options.payloadBytes === undefined ? JSON.stringify(run.stdout) : `${run.output.length} bytes`
    throw new Error(`trial ${n} failed: A exited ${String(aRun.code)} printing ${printed(aRun)}, B exited ${String(bRun.code)} printing ${printed(bRun)}\n  A: ${brief(aRun)}\n  B: ${brief(bRun)}`)
  }
  return {
    via: connected.via,
    path: connected.path,
    remote: connected.remote,
    peerRemote: peerConnected.remote,
    elapsedMs: connected.elapsedMs,
    dials: connected.dials,
    peerVia: peerConnected.via,
    peerDials: peerConnected.dials,
    rejected: aRun.events.filter((event) => event.event === 'rejected').map((event) => `${event.remote as string}: ${event.reason as string}`),
    a: aRun,
    b: bRun
  }
}
