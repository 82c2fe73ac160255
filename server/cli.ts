// The `punchline` command. `punchline serve` runs the rendezvous server.
import { parseArgs } from 'node:util'
import { ConfigError, DEFAULT_DATABASE, DEFAULT_HOST, DEFAULT_PORT, SETTINGS, resolveConfig } from './config.js'
import { closeOnSignals, startServer } from './main.js'
import { PACKAGE } from './package-root.js'
import { PEER_USAGE, UsageError, runPeerCommand } from '../sdk/cli.js'

const USAGE = `punchline ${PACKAGE.version}: rendezvous server and SDK for TCP hole punching

Usage:
  punchline serve [--host HOST] [--port PORT] [--db FILE] [--log-level LEVEL]
  ${PEER_USAGE.split('\n')[0]!}
                 ${PEER_USAGE.split('\n')[1]!.trim()}
  punchline --help | --version

serve options (each also read from an environment variable):
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

Examples:
  punchline serve
  punchline serve --host 127.0.0.1 --port 9000 --db /var/lib/punchline/punchline.db
  punchline peer --server http://127.0.0.1:8080 --id bob
  echo hello | punchline peer --server http://127.0.0.1:8080 --id alice --connect bob

Run "punchline peer --help" for the peer command's options.
`

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${PACKAGE.version}\n`)
    return 0
  }
  if (command === 'peer') return await runPeerCommand(rest)
  if (command !== 'serve') {
    process.stderr.write(`punchline: unknown command "${command}"\n\n${USAGE}`)
    return 2
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
    process.stdout.write(USAGE)
    return 0
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
  process.stderr.write(`punchline: ${(error as Error).message}\n${known ? 'Run "punchline --help" for usage.\n' : ''}`)
  process.exitCode = known ? 2 : 1
})
