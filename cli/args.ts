// How every command reads its arguments: node:util's parseArgs, strict, except
// that a value may begin with '-'. Peer ids may, and so does one base64url key
// in 64, which parseArgs alone refuses after `--peer-key` as ambiguous.
import { parseArgs, type ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>

/** Whether `arg` is `--` or one of the command's own options (no command has short ones): then the value before it is missing. */
function isOption (arg: string, options: Options): boolean {
  return arg === '--' || (arg.startsWith('--') && Object.hasOwn(options, arg.slice(2).split('=')[0]!))
}

/** `--name VALUE` as `--name=VALUE` where VALUE begins with '-' but is no option of the command. */
function attachDashValues (args: string[], options: Options): string[] {
  const attached: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') return [...attached, ...args.slice(i)]
    const next = args[i + 1]
    const name = arg.startsWith('--') ? arg.slice(2) : undefined
    const takesValue = name !== undefined && Object.hasOwn(options, name) && options[name]!.type === 'string'
    if (takesValue && next !== undefined && next.startsWith('-') && !isOption(next, options)) {
      attached.push(`${arg}=${next}`)
      i++
    } else {
      attached.push(arg)
    }
  }
  return attached
}

/** The command's option values; throws parseArgs's ERR_PARSE_ARGS_* errors (usage, exit 2). */
export function parseCommandArgs<T extends Options> (args: string[], options: T): ReturnType<typeof parseArgs<{ args: string[], strict: true, options: T }>>['values'] {
  return parseArgs({ args: attachDashValues(args, options), strict: true, options }).values
}
