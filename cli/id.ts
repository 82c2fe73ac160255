// `punchline id`: this host's identity key, what other peers pin with
// --peer-key or --allow ID=KEY. Creates the identity file on first use.
import { defaultIdentityFile, identityFile } from '@punchline/sdk'
import { parseCommandArgs } from './args.js'
import { EXIT, UsageError } from './exit.js'

export async function runIdCommand (args: string[]): Promise<number> {
  const values = parseCommandArgs(args, { identity: { type: 'string' } })
  const file = values.identity ?? defaultIdentityFile()
  const identity = await identityFile(file).catch((error: Error) => { throw new UsageError(`--identity: ${error.message}`) })
  process.stdout.write(`${identity.key}\n`)
  process.stderr.write(`the public key of ${file}: pin it with --peer-key ${identity.key} (or --allow ID=${identity.key})\n`)
  return EXIT.OK
}
