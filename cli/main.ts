// The `punchline` command: dispatches to one subcommand and loads only that
// one (the server's modules for `serve`, the SDK's for the others).
import { PACKAGE } from '../server/package-root.js'
import { EXIT, isUsageError } from './exit.js'

const COMMANDS: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  serve: async () => (await import('./serve.js')).runServeCommand,
  peer: async () => (await import('./peer.js')).runPeerCommand,
  expose: async () => (await import('./tunnel.js')).runExposeCommand,
  forward: async () => (await import('./tunnel.js')).runForwardCommand
}

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
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (load === undefined) {
    process.stderr.write(`punchline: unknown command "${command}"\n\n${USAGE}`)
    return EXIT.USAGE
  }
  return await (await load())(rest)
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
}, (error: unknown) => {
  const usage = isUsageError(error)
  process.stderr.write(`punchline: ${(error as Error).message}\n${usage ? 'Run "punchline --help" (or "punchline COMMAND --help") for usage.\n' : ''}`)
  process.exitCode = usage ? EXIT.USAGE : EXIT.FAILURE
})
