// The `punchline` command. `punchline serve` runs the rendezvous server.
import { parseArgs } from 'node:util'
import { ConfigError, DEFAULT_DATABASE, DEFAULT_HOST, DEFAULT_PORT, SETTINGS, resolveConfig } from './config.js'
import { closeOnSignals, startServer } from './main.js'
import { PACKAGE } from './package-root.js'
import { EXIT, UsageError } from '../sdk/cli/options.js'
import { runPeerCommand } from '../sdk/cli/peer.js'
import { runExposeCommand, runForwardCommand } from '../sdk/cli/tunnel.js'

const USAGE = `punchline ${PACKAGE.version}: rendezvous server and SDK for TCP hole punching

Usage:
  punchline serve [options]         run the rendezvous server
  punchline peer [options]          netcat over a punched connection
  punchline expose [options]        make a local TCP service reachable by chosen peers
  punchline forward [options]       reach a service another peer exposes, on a local port
  punchline COMMAND --help          a command's options and examples
  punchline --help | --version

Exit codes: 0 success (or stopped by SIGINT/SIGTERM), 1 failure, 2 usage,
130 "punchline peer" interrupted.

Examples:
  punchline serve
  punchline peer --server http://127.0.0.1:8080 --id bob
  echo hello | punchline peer --server http://127.0.0.1:8080 --id alice --connect bob
  punchline expose --server http://127.0.0.1:8080 --id home --to 127.0.0.1:22 --allow laptop
  punchline forward --server http://127.0.0.1:8080 --id laptop --peer home --listen 127.0.0.1:2222
`

const SERVE_USAGE = `Usage: punchline serve [--host HOST] [--port PORT] [--db FILE] [options]

Runs the rendezvous server: the HTTP/JSON API under /v1, Swagger UI at /docs,
Prometheus metrics at /metrics. Peers must reach it directly (no HTTP reverse
proxy): it records the source address and port it observes. SIGINT/SIGTERM
close it gracefully (exit 0).

Options (each also read from an environment variable):
  --host HOST             address to listen on (${SETTINGS.host.env}, default "${DEFAULT_HOST}": every
                          interface, IPv4 and IPv6; use 127.0.0.1 for this machine only)
  --port PORT             TCP port (${SETTINGS.port.env}, default ${DEFAULT_PORT})
  --db FILE               SQLite database file, created and migrated if missing
                          (${SETTINGS.databasePath.env}, default ${DEFAULT_DATABASE})
  --log-level LEVEL       fatal|error|warn|info|debug|trace|silent (${SETTINGS.logLevel.env}, default info)
  --introduction-ttl S    seconds an introduction waits for delivery (${SETTINGS.introductionTtlSeconds.env}, default 30)
  --sweep-interval S      seconds between deletions of expired rows (${SETTINGS.sweepIntervalSeconds.env}, default 30)
  --body-limit BYTES      largest request body (${SETTINGS.bodyLimitBytes.env}, default 16384)
  --max-pending-introductions N
                          introductions one peer's inbox holds before 429 (${SETTINGS.maxPendingIntroductions.env}, default 64)
  --max-registrations-per-address N
                          live registrations from one public address before 429
                          (${SETTINGS.maxRegistrationsPerAddress.env}, default 256)
  --rate-limit-per-address N
                          requests a minute from one source address before 429
                          (${SETTINGS.rateLimitPerAddress.env}, default 1200)
  --rate-limit-per-peer N requests a minute from one authenticated peer before 429
                          (${SETTINGS.rateLimitPerPeer.env}, default 300)
  --api-keys K1,K2        registering needs one of these in an X-API-Key header
                          (${SETTINGS.apiKeys.env}, default: none, anyone may register)
  --headers-timeout S     seconds to send a request's headers (${SETTINGS.headersTimeoutSeconds.env}, default 10)
  --request-timeout S     seconds to send a whole request (${SETTINGS.requestTimeoutSeconds.env}, default 30)
  --max-poll-wait S       longest a long-poll is held, 1-60 (${SETTINGS.maxPollWaitSeconds.env}, default 60)

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 failure (e.g. the port is taken), 2 usage.

Examples:
  punchline serve
  punchline serve --host 127.0.0.1 --port 9000 --db /var/lib/punchline/punchline.db
  PUNCHLINE_API_KEYS=k1,k2 punchline serve --rate-limit-per-address 600
`

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  peer: runPeerCommand,
  expose: runExposeCommand,
  forward: runForwardCommand
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? EXIT.USAGE : EXIT.OK
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${PACKAGE.version}\n`)
    return EXIT.OK
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (run !== undefined) return await run(rest)
  if (command !== 'serve') {
    process.stderr.write(`punchline: unknown command "${command}"\n\n${USAGE}`)
    return EXIT.USAGE
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      db: { type: 'string' },
      'log-level': { type: 'string' },
      'introduction-ttl': { type: 'string' },
      'sweep-interval': { type: 'string' },
      'body-limit': { type: 'string' },
      'max-pending-introductions': { type: 'string' },
      'max-registrations-per-address': { type: 'string' },
      'rate-limit-per-address': { type: 'string' },
      'rate-limit-per-peer': { type: 'string' },
      'api-keys': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      'max-poll-wait': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(SERVE_USAGE)
    return EXIT.OK
  }
  const config = resolveConfig({
    host: values.host,
    port: values.port,
    databasePath: values.db,
    logLevel: values['log-level'],
    introductionTtlSeconds: values['introduction-ttl'],
    sweepIntervalSeconds: values['sweep-interval'],
    bodyLimitBytes: values['body-limit'],
    maxPendingIntroductions: values['max-pending-introductions'],
    maxRegistrationsPerAddress: values['max-registrations-per-address'],
    rateLimitPerAddress: values['rate-limit-per-address'],
    rateLimitPerPeer: values['rate-limit-per-peer'],
    apiKeys: values['api-keys'],
    headersTimeoutSeconds: values['headers-timeout'],
    requestTimeoutSeconds: values['request-timeout'],
    maxPollWaitSeconds: values['max-poll-wait']
  })
  closeOnSignals(await startServer(config))
  return -1 // keep running
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (error: unknown) => {
  const known = error instanceof ConfigError || error instanceof UsageError ||
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  process.stderr.write(`punchline: ${(error as Error).message}\n${known ? 'Run "punchline --help" (or "punchline COMMAND --help") for usage.\n' : ''}`)
  process.exitCode = known ? EXIT.USAGE : EXIT.FAILURE
})
