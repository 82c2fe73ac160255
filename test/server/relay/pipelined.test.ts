// An upgrade pipelined behind a request still being answered, on one
// connection: Node hands the upgrade over at once, while the first answer is
// pending, so neither an answer nor a 101 could come in order. The server
// closes that connection, and keeps serving.
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { relayServer } from './fixture.js'
import { rawUpgrade, readAll } from './raw-upgrade.js'

describe('an upgrade pipelined behind a pending request', () => {
  it('closes the connection, without a crash or a relay, and the server keeps serving', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const { hostname, port } = new URL(fixture.url)
    const socket = connect({ port: Number(port), host: hostname })
    socket.on('error', () => {})
    const started = Date.now()
    socket.write(`GET /v1/peers/bob/inbox?after=1&wait=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fixture.bob.token}\r\n\r\n` +
      `GET /v1/introductions/${id}/relay HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: punchline-relay/1\r\nAuthorization: Bearer ${fixture.bob.token}\r\n\r\n`)
    const answer = (await readAll(socket)).toString()
    expect(Date.now() - started).toBeLessThan(2000) // closed at once, not after the poll's 5 s
    expect(answer).not.toContain('101 Switching Protocols')
    expect(fixture.app.relays.counts()).toEqual({ waiting: 0, spliced: 0 })
    expect((await rawUpgrade(fixture.url, id, { token: fixture.bob.token })).status).toBe(101)
  })
})
