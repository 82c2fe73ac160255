// Running the built `punchline` bin as a user does, for the CLI tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach } from 'vitest'
import { BIN, SERVER_NODE } from '../../lab/rendezvous-process.js'

export { BIN }
const running: ChildProcessWithoutNullStreams[] = []
afterEach(() => { for (const child of running.splice(0)) child.kill('SIGKILL') })

export function run (args: string[], cwd: string, env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  // `serve` runs on the server's Node (see SERVER_NODE), every other command on the test's.
  const node = args[0] === 'serve' ? SERVER_NODE : process.execPath
  // Identity and known-peers files go in the test's folder, never in the user's ~/.config.
  const child = spawn(node, [BIN, ...args], { cwd, env: { ...process.env, XDG_CONFIG_HOME: path.join(cwd, 'config'), ...env } })
  running.push(child)
  return child
}

export async function exitOf (child: ChildProcessWithoutNullStreams): Promise<{ code: number | null, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, stdout, stderr }
}

/** The first log line with the listening URL. */
export async function listening (child: ChildProcessWithoutNullStreams): Promise<{ url: string, docs: string, msg: string, database: string }> {
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line)
    if (typeof entry.docs === 'string') return entry
  }
  throw new Error('the server exited without logging its URL')
}

