// The `punchline` command: dispatches to one subcommand and loads only that
// one (the server's modules for `serve`, the SDK's for the others).
import { PACKAGE } from '../server/package-root.js'
import { EXIT, isUsageError } from './exit.js'
import { MAIN_USAGE, USAGE } from './usage.js'

const COMMANDS: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  serve: async () => (await import('./serve.js')).runServeCommand,
  peer: async () => (await import('./peer.js')).runPeerCommand,
  expose: async () => (await import('./tunnel.js')).runExposeCommand,
  forward: async () => (await import('./tunnel.js')).runForwardCommand,
  id: async () => (await import('./id.js')).runIdCommand
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(MAIN_USAGE)
    return command === undefined ? EXIT.USAGE : EXIT.OK
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${PACKAGE.version}\n`)
    return EXIT.OK
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (load === undefined) {
    process.stderr.write(`punchline: unknown command "${command}"\n\n${MAIN_USAGE}`)
    return EXIT.USAGE
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE[command]!())
    return EXIT.OK
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
