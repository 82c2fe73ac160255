// The punch port's socket primitives on this Node: Node's own net.BoundSocket
// where it exists (24.21+), the optional addon before that; listening and
// dialing from one port, over IPv4 and IPv6; and what a platform without
// either is told.
import net from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { defaultPortSockets, unsupportedPlatformMessage } from '../../../sdk/socket/port-sockets.js'
import { boundSocketPortSockets, hasBoundSocket } from '../../../sdk/socket/bound-socket.js'
import { addonPortSockets, isAddonInstalled } from '../../../sdk/socket/reuse-port-addon.js'

const closing: Array<{ close: () => unknown }> = []
afterEach(() => { for (const item of closing.splice(0)) item.close() })

const [major] = process.versions.node.split('.').map(Number) as [number]
const hasIpv6Loopback = Object.values(net.isIPv6('::1') ? (await import('node:os')).networkInterfaces() : {}).flat().some((address) => address?.address === '::1')

describe('the default punch-port sockets', () => {
  it(`are Node's own net.BoundSocket on Node 24+ and the addon before (this is ${process.version})`, () => {
    expect(hasBoundSocket()).toBe(major >= 24)
    expect(defaultPortSockets()).toBe(major >= 24 ? boundSocketPortSockets : addonPortSockets)
  })

  it.runIf(process.env.PUNCHLINE_EXPECT_NO_ADDON === '1')('need no addon: node-unix-socket is not installed in this run', () => {
    expect(isAddonInstalled()).toBe(false)
    expect(() => defaultPortSockets()).not.toThrow()
  })

  for (const host of ['127.0.0.1', '::1']) {
    it.skipIf(host === '::1' && !hasIpv6Loopback)(`listen on P and dial from P while it listens, on ${host}`, async () => {
      const sockets = defaultPortSockets()
      const accepted: net.Socket[] = []
      const listener = await sockets.listen({ host, port: 0 }, (socket) => { accepted.push(socket) })
      closing.push(listener)
      const port = (listener.address() as net.AddressInfo).port
      // Someone to dial, who reports the port our connection comes from.
      const target = net.createServer((socket) => { socket.end(String(socket.remotePort)) })
      closing.push(target)
      await new Promise<void>((resolve) => target.listen(0, host, resolve))
      const dialed = sockets.dial({ host, port }, { address: host, port: (target.address() as net.AddressInfo).port })
      let seen = ''
      dialed.on('data', (chunk: Buffer) => { seen += String(chunk) })
      await once(dialed, 'end')
      expect(Number(seen)).toBe(port)
      dialed.destroy()
      // And the listener on P still takes connections.
      const client = net.connect(port, host)
      await once(client, 'connect')
      client.destroy()
      expect(accepted.length).toBeGreaterThanOrEqual(1)
    })
  }

  it('dial a name from P, resolved in the family P is bound to (the rendezvous server\'s name)', async () => {
    const sockets = defaultPortSockets()
    const listener = await sockets.listen({ host: '0.0.0.0', port: 0 }, () => {})
    closing.push(listener)
    const port = (listener.address() as net.AddressInfo).port
    // Listening on both families: whichever the name resolves to, only the bound family may be dialed.
    const target = net.createServer((socket) => {
      socket.on('error', () => {}) // the dial's reset
      socket.end(`${socket.remoteAddress ?? ''} ${socket.remotePort ?? 0}`)
    })
    closing.push(target)
    await new Promise<void>((resolve) => target.listen(0, '::', resolve))
    // Many times: a socket that starts reading before its name resolves fails with ENOTCONN, often but not always.
    for (let dial = 0; dial < 20; dial++) {
      const dialed = sockets.dial({ host: '0.0.0.0', port }, { address: 'localhost', port: (target.address() as net.AddressInfo).port })
      let seen = ''
      dialed.on('data', (chunk: Buffer) => { seen += String(chunk) })
      await once(dialed, 'end')
      expect(seen).toBe(`::ffff:127.0.0.1 ${port}`)
      dialed.resetAndDestroy() // no TIME_WAIT on the pair: the next dial comes from P to the same port
    }
  })

  it('report a failed bind as the dial\'s error event, not a throw', async () => {
    const taken = net.createServer() // no SO_REUSEPORT: nobody may share its port
    closing.push(taken)
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const dialed = defaultPortSockets().dial({ host: '127.0.0.1', port: (taken.address() as net.AddressInfo).port }, { address: '127.0.0.1', port: 9 })
    const [error] = await once(dialed, 'error') as [NodeJS.ErrnoException]
    expect(error.code).toBe('EADDRINUSE')
  })
})

describe('a platform without reuse-port sockets', () => {
  it('is told which Node to use, and where the addon is an option, how to install it', () => {
    expect(unsupportedPlatformMessage('linux', 'arm64', 'v22.23.3')).toBe('punch ports need SO_REUSEPORT sockets: use Node 24.21 or newer (net.BoundSocket, no addon); this is Node v22.23.3 on linux arm64.')
    expect(unsupportedPlatformMessage('linux', 'x64', 'v22.23.3')).toContain('or keep this Node and install the optional addon: npm install node-unix-socket-linux-x64-gnu@0.2.7')
    expect(unsupportedPlatformMessage('darwin', 'arm64', 'v24.21.0')).toMatch(/only where libuv supports them \(Linux, FreeBSD.*\); this is Node v24\.21\.0 on darwin arm64\. Pass your own PortSockets/)
  })
})
