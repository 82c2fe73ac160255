// `punchline serve`: the rendezvous server. Its options and environment
// variables come from the server's settings table.
import { closeOnSignals, startServer } from '../server/main.js'
import { resolveConfig, settingFlags, settingsFromFlags } from '../server/settings.js'
import { parseCommandArgs } from './args.js'

/** `serve` keeps running: the process exits on a signal, not when the command returns. */
export const KEEP_RUNNING = -1


export async function runServeCommand (args: string[]): Promise<number> {
  const values = parseCommandArgs(args, settingFlags())
  closeOnSignals(await startServer(resolveConfig(settingsFromFlags(values))))
  return KEEP_RUNNING
}
