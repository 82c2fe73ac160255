// `punchline serve`: the rendezvous server. Its options, environment
// variables and usage text come from the server's settings table.
import { parseArgs } from 'node:util'
import { closeOnSignals, startServer } from '../server/main.js'
import { SETTINGS, resolveConfig, settingFlags, settingsFromFlags, settingsUsage } from '../server/settings.js'
import { EXIT } from './exit.js'

/** `serve` keeps running: the process exits on a signal, not when the command returns. */
export const KEEP_RUNNING = -1

export function serveUsage (): string {
  return `Usage: punchline serve [--host HOST] [--port PORT] [--db FILE] [options]

Runs the rendezvous server: the HTTP/JSON API under /v1, Swagger UI at /docs,
Prometheus metrics at /metrics. Peers must reach it directly (no HTTP reverse
proxy): it records the source address and port it observes. SIGINT/SIGTERM
close it gracefully (exit 0).

Options (each also read from its environment variable; flags win):
${settingsUsage()}
  -h, --help                  this help

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure (e.g. the port is taken), 2 usage.

Examples:
  punchline serve
  punchline serve --host 127.0.0.1 --port 9000 --db /var/lib/punchline/punchline.db
  ${SETTINGS.apiKeys.env}=k1-0123456789abcdef punchline serve --rate-limit-per-address 600
`
}

export async function runServeCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { ...settingFlags(), help: { type: 'boolean', short: 'h' } } })
  if (values.help === true) {
    process.stdout.write(serveUsage())
    return EXIT.OK
  }
  closeOnSignals(await startServer(resolveConfig(settingsFromFlags(values))))
  return KEEP_RUNNING
}
