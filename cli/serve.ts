// `punchline serve`: the rendezvous server. Its options and environment
// variables come from the server's settings table.
import { parseArgs } from 'node:util'
import { closeOnSignals, startServer } from '../server/main.js'
import { resolveConfig, settingFlags, settingsFromFlags } from '../server/settings.js'

/** `serve` keeps running: the process exits on a signal, not when the command returns. */
export const KEEP_RUNNING = -1


export async function runServeCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: settingFlags() })
  closeOnSignals(await startServer(resolveConfig(settingsFromFlags(values))))
  return KEEP_RUNNING
}
