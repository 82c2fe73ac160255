// Routes connections accepted on the punch port to the punch they belong to.
// Every accepted connection must send a HELLO within ACCEPT_HELLO_TIMEOUT_MS
// whose tag one of our punches recognises (only the introduction's secret
// makes it); it is handed to that punch, waiting for a punch we have not
// started yet (the peer's SYN can beat the introduction to us), or closed.
// Nothing else is read from strangers.
import type { Socket } from 'node:net'
import { FrameReader, FrameType, decodeHello, type Hello } from './punch/handshake.js'

/** An accepted connection must say which introduction it belongs to within this long. */
export const ACCEPT_HELLO_TIMEOUT_MS = 2000

/** Where a routed connection goes: the punch whose secret made its HELLO. */
export interface Adopter {
  recognizes: (hello: Hello) => boolean
  adopt: (socket: Socket, reader: FrameReader, hello: Hello) => void
}

interface Waiting {
  hello: Hello
  resolve: (adopter: Adopter | undefined) => void
}

export class AcceptRouter {
  readonly #punches = new Map<string, Adopter>()
  readonly #waiting = new Set<Waiting>()
  readonly #unrouted = new Set<Socket>()
  #closed = false

  /** Connections whose HELLO `adopter` recognises go to it from now on (and those waiting, at once). */
  add (introductionId: string, adopter: Adopter): void {
    this.#punches.set(introductionId, adopter)
    for (const waiting of this.#waiting) if (adopter.recognizes(waiting.hello)) waiting.resolve(adopter)
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
      const adopter = await this.#adopterFor(hello, expired.signal)
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
    for (const waiting of this.#waiting) waiting.resolve(undefined)
  }

  /** The punch a HELLO is for, waiting (until `signal` aborts) for one not started yet. */
  async #adopterFor (hello: Hello, signal: AbortSignal): Promise<Adopter | undefined> {
    for (const adopter of this.#punches.values()) if (adopter.recognizes(hello)) return adopter
    if (this.#closed || signal.aborted) return undefined
    return await new Promise((resolve) => {
      const onAbort = (): void => { waiting.resolve(undefined) }
      const waiting: Waiting = {
        hello,
        resolve: (found) => {
          signal.removeEventListener('abort', onAbort)
          this.#waiting.delete(waiting)
          resolve(found)
        }
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.add(waiting)
    })
  }
}
