// Routes connections accepted on the punch port to the punch they belong to.
// Every accepted connection must name its introduction in a HELLO within
// ACCEPT_HELLO_TIMEOUT_MS; it is handed to that introduction's punch, waiting
// for a punch we have not started yet (the peer's SYN can beat the
// introduction to us), or closed. Nothing else is read from strangers.
import type { Socket } from 'node:net'
import { FrameReader, FrameType, decodeHello, type Hello } from './punch/handshake.js'

/** An accepted connection must say which introduction it belongs to within this long. */
export const ACCEPT_HELLO_TIMEOUT_MS = 2000

/** Where a routed connection goes: the punch of the introduction its HELLO names. */
export interface Adopter {
  adopt: (socket: Socket, reader: FrameReader, hello: Hello) => void
}

export class AcceptRouter {
  readonly #punches = new Map<string, Adopter>()
  readonly #waiting = new Map<string, Set<(adopter: Adopter | undefined) => void>>()
  readonly #unrouted = new Set<Socket>()
  #closed = false

  /** Connections naming `introductionId` go to `adopter` from now on (and those waiting for it, at once). */
  add (introductionId: string, adopter: Adopter): void {
    this.#punches.set(introductionId, adopter)
    for (const resolve of this.#waiting.get(introductionId) ?? []) resolve(adopter)
  }

  remove (introductionId: string): void {
    this.#punches.delete(introductionId)
  }

  /** A connection accepted on the punch port: routed by the introduction its HELLO names, or closed. */
  route (socket: Socket): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    this.#unrouted.add(socket)
    const reader = new FrameReader(socket)
    const expired = new AbortController()
    const timer = setTimeout(() => { expired.abort() }, ACCEPT_HELLO_TIMEOUT_MS)
    const onExpiry = new Promise<never>((resolve, reject) => {
      expired.signal.addEventListener('abort', () => { reject(new Error('no HELLO in time')) }, { once: true })
    })
    onExpiry.catch(() => {})
    const deliver = async (): Promise<void> => {
      const hello = decodeHello(await Promise.race([reader.expect(FrameType.HELLO), onExpiry]))
      const adopter = await this.#adopterFor(hello.introductionId, expired.signal)
      if (adopter === undefined) throw new Error('no pending introduction')
      this.#unrouted.delete(socket)
      adopter.adopt(socket, reader, hello)
    }
    deliver().catch(() => { socket.destroy() }).finally(() => {
      clearTimeout(timer)
      expired.abort()
      this.#unrouted.delete(socket)
    })
  }

  /** Closes every connection not routed yet; later ones are closed at once. */
  close (): void {
    this.#closed = true
    for (const socket of this.#unrouted) socket.destroy()
    for (const waiters of this.#waiting.values()) for (const resolve of waiters) resolve(undefined)
  }

  /** The punch of an introduction, waiting (until `signal` aborts) for one not started yet. */
  async #adopterFor (introductionId: string, signal: AbortSignal): Promise<Adopter | undefined> {
    const adopter = this.#punches.get(introductionId)
    if (adopter !== undefined || this.#closed || signal.aborted) return adopter
    return await new Promise((resolve) => {
      let waiters = this.#waiting.get(introductionId)
      if (waiters === undefined) {
        waiters = new Set()
        this.#waiting.set(introductionId, waiters)
      }
      const onAbort = (): void => { done(undefined) }
      const done = (found: Adopter | undefined): void => {
        signal.removeEventListener('abort', onAbort)
        waiters.delete(done)
        if (waiters.size === 0) this.#waiting.delete(introductionId)
        resolve(found)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      waiters.add(done)
    })
  }
}
