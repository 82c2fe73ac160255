// One direction of a relayed connection: every byte read from one side is
// written to the other, in order. The reader is paused while the writer's
// buffer is full (backpressure) and while the direction is over its rate,
// so the relay holds at most about one read and one write buffer per
// direction whatever either end does, and a fast sender is slowed by TCP
// itself. The end of the stream (a half-close) is passed on after its bytes.
import type { Socket } from 'node:net'
import { TokenBucket } from './token-bucket.js'

export class Pump {
  readonly #from: Socket
  readonly #to: Socket
  readonly #bucket: TokenBucket
  readonly #moved: (bytes: number) => void
  #waitingForDrain = false
  #waitingForRate: NodeJS.Timeout | undefined
  #stopped = false

  /** `moved` hears of every read forwarded, with its size. */
  constructor (from: Socket, to: Socket, bytesPerSecond: number, moved: (bytes: number) => void) {
    this.#from = from
    this.#to = to
    this.#bucket = new TokenBucket(bytesPerSecond)
    this.#moved = moved
  }

  start (): void {
    this.#from.on('data', this.#onData)
    this.#from.on('end', this.#onEnd)
    this.#to.on('drain', this.#onDrain)
    this.#from.resume()
  }

  /** Removes every listener and timer; idempotent. The sockets are the caller's to close. */
  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#waitingForRate)
    this.#from.off('data', this.#onData)
    this.#from.off('end', this.#onEnd)
    this.#to.off('drain', this.#onDrain)
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#moved(chunk.length)
    if (!this.#to.write(chunk)) this.#waitingForDrain = true
    const waitMs = this.#bucket.take(chunk.length)
    if (waitMs > 0) this.#waitingForRate = setTimeout(this.#onRateRestored, waitMs)
    if (this.#waitingForDrain || this.#waitingForRate !== undefined) this.#from.pause()
  }

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false
    this.#resumeWhenClear()
  }

  readonly #onRateRestored = (): void => {
    this.#waitingForRate = undefined
    this.#resumeWhenClear()
  }

  #resumeWhenClear (): void {
    if (!this.#stopped && !this.#waitingForDrain && this.#waitingForRate === undefined) this.#from.resume()
  }

  readonly #onEnd = (): void => {
    if (!this.#to.destroyed) this.#to.end()
  }
}
