// Peer-to-peer connect on loopback on other Node versions and architectures:
// the rendezvous server runs on this machine's Node, the two peers on each
// Node given (an arm64 one runs under qemu-user, found by binfmt). Prints one
// JSON line per Node, what two-peers.mjs reported, or why it could not run.
//   tsx --conditions=@punchline/source bench/platform/connect.ts NODE [NODE...]
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { RendezvousProcess, ROOT } from '../../lab/rendezvous-process.js'

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'two-peers.mjs')
const TIMEOUT_MS = 120_000

const rendezvous = await RendezvousProcess.start()
try {
  for (const node of process.argv.slice(2)) {
    const started = Date.now()
    try {
      const output = execFileSync(node, [SCRIPT, rendezvous.url], { cwd: ROOT, encoding: 'utf8', timeout: TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] })
      console.log(JSON.stringify({ binary: node, ...JSON.parse(output.trim().split('\n').at(-1)!), wallSeconds: (Date.now() - started) / 1000 }))
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error)
      console.log(JSON.stringify({ binary: node, failed: stderr.split('\n').find((line) => /^\w*Error: /.test(line)) ?? stderr.trim() }))
    }
  }
} finally {
  await rendezvous.destroy()
}
