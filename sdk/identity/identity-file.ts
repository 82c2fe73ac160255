// Identity and known-peers files, for programs that must keep their identity
// across restarts (punchline's CLI does): the private key in a PEM file only
// its owner may read (0600), created on first use, in the user's config folder
// by default ($XDG_CONFIG_HOME/punchline, else ~/.config/punchline).
import { constants } from 'node:fs'
import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import path from 'node:path'
import { InvalidOptionError } from '../errors.js'
import { identityOf, type Identity } from './identity.js'

export function configDir (env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : path.join(homedir(), '.config'), 'punchline')
}

export const defaultIdentityFile = (env?: NodeJS.ProcessEnv): string => path.join(configDir(env), 'identity.pem')
export const defaultKnownPeersFile = (env?: NodeJS.ProcessEnv): string => path.join(configDir(env), 'known_peers')

/**
 * The identity in `file`, or a new one written there (mode 0600; its folder
 * 0700). A key file others can read is refused, as SSH does.
 */
export async function identityFile (file: string): Promise<Identity> {
  let pem: Buffer
  try {
    const { mode } = await stat(file)
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new InvalidOptionError(`identity file ${file} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`)
    }
    pem = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error instanceof InvalidOptionError ? error : new InvalidOptionError(`identity file ${file}: ${(error as Error).message}`)
    return await create(file)
  }
  return identityOf(pem)
}

async function create (file: string): Promise<Identity> {
  const identity = identityOf()
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  let handle
  try {
    // O_EXCL: two processes starting at once do not both write a key; the loser reads the winner's.
    handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return await identityFile(file)
    throw new InvalidOptionError(`identity file ${file}: ${(error as Error).message}`)
  }
  try {
    await handle.writeFile(identity.privateKey.export({ type: 'pkcs8', format: 'pem' }))
  } finally {
    await handle.close()
  }
  return identity
}
