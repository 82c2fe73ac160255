// Trust on first use, like SSH's known_hosts: the first key a peer id proves
// is recorded, and from then on that id must prove the same key. A file of
// "ID KEY" lines; lines that are neither are kept and ignored.
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { KEY_TEXT_PATTERN } from '@punchline/protocol/identity'
import { PEER_ID_PATTERN } from '@punchline/protocol/limits'
import { PeerKeyChangedError } from '../errors.js'

const LINE = new RegExp(`^(${PEER_ID_PATTERN.slice(1, -1)}) (${KEY_TEXT_PATTERN.slice(1, -1)})$`)

export class KnownPeers {
  readonly file: string
  readonly #keys: Map<string, string>

  private constructor (file: string, keys: Map<string, string>) {
    this.file = file
    this.#keys = keys
  }

  /** The file's records; an absent file is an empty list, created at the first record. */
  static async open (file: string): Promise<KnownPeers> {
    let text = ''
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    const keys = new Map<string, string>()
    for (const line of text.split('\n')) {
      const match = LINE.exec(line.trim())
      if (match !== null && !keys.has(match[1]!)) keys.set(match[1]!, match[2]!)
    }
    return new KnownPeers(file, keys)
  }

  /** The key recorded for the id, if any. */
  keyOf (peerId: string): string | undefined {
    return this.#keys.get(peerId)
  }

  /** Throws PeerKeyChangedError when the id is recorded with another key. */
  check (peerId: string, key: string): void {
    const known = this.#keys.get(peerId)
    if (known !== undefined && known !== key) {
      throw new PeerKeyChangedError(`the key of ${peerId} changed: ${this.file} has ${known}, the peer now has ${key}. ` +
        `Someone may be impersonating ${peerId} (or the rendezvous server lies); if ${peerId} really has a new key, remove its line from ${this.file}`)
    }
  }

  /** Records the key of an id seen for the first time (after it proved it). */
  async remember (peerId: string, key: string): Promise<void> {
    this.check(peerId, key)
    if (this.#keys.has(peerId)) return
    this.#keys.set(peerId, key)
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 })
    await appendFile(this.file, `${peerId} ${key}\n`, { mode: 0o600 })
  }
}
