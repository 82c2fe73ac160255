// The SDK's attachRelay against the real server on loopback (HTTP, and HTTPS
// with a private CA): both peers get a socket to each other, and every
// refusal is a RelayRefusedError with the server's code. (Against hostile
// servers written by hand: test/sdk/relay-attach.test.ts.)
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { attachRelay, RelayRefusedError, ServerUntrustedError, type AttachRelayOptions } from '../../../sdk/index.js'
import { certificates, openssl } from '../../certificates.js'
import { handles, tempDir } from '../../helpers.js'
import { relayServer } from './fixture.js'
import { payload, readAll, sha256 } from './raw-upgrade.js'

const MiB = 1024 * 1024
const UNKNOWN = '00000000-0000-4000-8000-000000000000'

async function refusal (options: AttachRelayOptions): Promise<unknown> {
  return await attachRelay(options).then((socket) => { socket.destroy(); throw new Error('attached') }, (error: unknown) => error)
}

describe('attachRelay, against the real server', () => {
  it('hands both peers a socket to each other: 4 MiB each way, intact', async () => {
    const fixture = await relayServer()
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    const [alice, bob] = await Promise.all([
      attachRelay({ server: fixture.url, introductionId: id, token: fixture.alice.token }),
      attachRelay({ server: fixture.url, introductionId: id, token: fixture.bob.token })
    ])
    // A fresh socket: neither flowing nor paused.
    expect(alice.readableFlowing).toBe(null)
    const up = payload(4 * MiB)
    const down = payload(4 * MiB)
    const [atBob, atAlice] = await Promise.all([readAll(bob), readAll(alice), alice.end(up.bytes), bob.end(down.bytes)])
    expect(sha256(atBob)).toBe(up.sha256)
    expect(sha256(atAlice)).toBe(down.sha256)
  })

  it('rejects every refusal with RelayRefusedError: the status, the server\'s code, and for 429 Retry-After', async () => {
    const fixture = await relayServer({ relayMaxPerPeer: 1 })
    const { url, alice, bob, carol } = fixture
    const id = await fixture.introduce(alice, bob)
    const stranger = await refusal({ server: url, introductionId: id, token: carol.token })
    expect(stranger).toBeInstanceOf(RelayRefusedError)
    expect(stranger).toMatchObject({ code: 'PUNCH_ERR_RELAY_REFUSED', status: 403, serverCode: 'PUNCH_ERR_NOT_A_PARTICIPANT', retryable: false })
    expect(await refusal({ server: url, introductionId: id, token: 'pl_nobody' })).toMatchObject({ status: 401, serverCode: 'PUNCH_ERR_TOKEN_INVALID' })
    expect(await refusal({ server: url, introductionId: UNKNOWN, token: alice.token })).toMatchObject({ status: 404, serverCode: 'PUNCH_ERR_INTRODUCTION_NOT_FOUND' })
    expect(await refusal({ server: url, introductionId: 'x/../../health', token: alice.token })).toMatchObject({ status: 400, serverCode: 'PUNCH_ERR_VALIDATION', field: 'params/introductionId' })
    const held = await attachRelay({ server: url, introductionId: id, token: alice.token })
    const limited = await refusal({ server: url, introductionId: await fixture.introduce(alice, carol), token: alice.token })
    expect(limited).toMatchObject({ status: 429, serverCode: 'PUNCH_ERR_RELAY_LIMITED', retryable: true, retryAfterMs: 20_000 })
    held.destroy()
  })

  it('says PUNCH_ERR_RELAY_DISABLED for a server run with --relay off', async () => {
    const fixture = await relayServer({ relay: 'off' })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    expect(await refusal({ server: fixture.url, introductionId: id, token: fixture.alice.token })).toMatchObject({ status: 403, serverCode: 'PUNCH_ERR_RELAY_DISABLED' })
  })

  it.skipIf(openssl === undefined)('attaches over HTTPS with a private CA, and refuses a server it cannot verify', async () => {
    const { ca, cert, key } = certificates(tempDir())
    const fixture = await relayServer({ https: { key: readFileSync(key), cert: readFileSync(cert) } })
    const id = await fixture.introduce(fixture.alice, fixture.bob)
    expect(fixture.url).toMatch(/^https:/)
    const untrusted = await refusal({ server: fixture.url, introductionId: id, token: fixture.alice.token })
    expect(untrusted).toBeInstanceOf(ServerUntrustedError)
    const [alice, bob] = await Promise.all([fixture.alice, fixture.bob].map(async (peer) => await attachRelay({ server: fixture.url, introductionId: id, token: peer.token, ca: readFileSync(ca) })))
    alice!.end('over TLS, through the relay')
    bob!.end()
    expect((await readAll(bob!)).toString()).toBe('over TLS, through the relay')
  })

  it('leaves no socket or timer behind, whether it attached or was refused', async () => {
    const fixture = await relayServer()
    const ids = await Promise.all([0, 1].map(async () => await fixture.introduce(fixture.alice, fixture.bob)))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const before = { tcp: handles('TCPSocketWrap'), timers: handles('Timeout') }
    for (const id of ids) {
      const alice = await attachRelay({ server: fixture.url, introductionId: id, token: fixture.alice.token })
      // A reset, so that the server's waiting side (and its timer) goes at once too: a FIN alone could be a half-close.
      alice.resetAndDestroy()
    }
    await refusal({ server: fixture.url, introductionId: ids[0]!, token: fixture.carol.token })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(handles('TCPSocketWrap')).toBeLessThanOrEqual(before.tcp)
    expect(handles('Timeout')).toBeLessThanOrEqual(before.timers)
  })
})
