import { Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SERVER_CONNECT_TIMEOUT_MS, serverConnector } from '../../sdk/server-connection.js'

describe('serverConnector', () => {
  afterEach(() => { vi.useRealTimers() })

  it(`gives up on a connection that never comes up after ${SERVER_CONNECT_TIMEOUT_MS} ms, and destroys its socket`, async () => {
    vi.useFakeTimers()
    // A socket that never connects: a SYN into a cut path, unanswered.
    const silent = new Socket()
    const connect = serverConnector({ secure: false, dial: () => silent })
    const outcome = new Promise<Error | null>((resolve) => {
      connect({ hostname: '192.0.2.1', host: '192.0.2.1', protocol: 'http:', port: '8080' }, (...args) => { resolve(args[0]) })
    })
    await vi.advanceTimersByTimeAsync(SERVER_CONNECT_TIMEOUT_MS - 1)
    expect(silent.destroyed).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(outcome).resolves.toMatchObject({ code: 'ETIMEDOUT' })
    expect(silent.destroyed).toBe(true)
  })

  it('reports a connection destroyed before it came up (by our own close) at once, as aborted', async () => {
    vi.useFakeTimers()
    const silent = new Socket()
    const connect = serverConnector({ secure: false, dial: () => silent })
    const outcome = new Promise<Error | null>((resolve) => {
      connect({ hostname: '192.0.2.1', host: '192.0.2.1', protocol: 'http:', port: '8080' }, (...args) => { resolve(args[0]) })
    })
    silent.destroy()
    await expect(outcome).resolves.toMatchObject({ code: 'ECONNABORTED' })
    // Its connect timer went with it: nothing left to keep a closed peer's process alive.
    expect(vi.getTimerCount()).toBe(0)
  })
})
