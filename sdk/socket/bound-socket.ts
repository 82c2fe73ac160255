// PortSockets on Node's own net.BoundSocket (Node 24.21+, 26.10+): a TCP
// handle bound with SO_REUSEADDR (libuv always sets it) and SO_REUSEPORT
// (reusePort), which a server listens on or a socket connects from. No addon.
import net from 'node:net'
import { PlatformUnsupportedError } from '../errors.js'
import { failedDial } from './failed-dial.js'
import { START_ON_CONNECT, connectOptions } from './family.js'
import type { PortSockets } from './port-sockets.js'

/** What punchline uses of net.BoundSocket (@types/node does not describe it yet). */
interface BoundSocket {
  address: () => { address: string, family: string, port: number }
  close: () => void
}
type BoundSocketConstructor = new (options: { host: string, port: number, reusePort: boolean }) => BoundSocket

function boundSocketConstructor (): BoundSocketConstructor | undefined {
  return (net as unknown as { BoundSocket?: BoundSocketConstructor }).BoundSocket
}

export function hasBoundSocket (): boolean {
  return typeof boundSocketConstructor() === 'function'
}

/** A handle bound to host:port with SO_REUSEPORT; a platform without it is a PlatformUnsupportedError. */
function bind (host: string, port: number): BoundSocket {
  const BoundSocket = boundSocketConstructor()
  if (BoundSocket === undefined) throw new PlatformUnsupportedError(`net.BoundSocket needs Node 24.21 or newer; this is Node ${process.version}`)
  try {
    return new BoundSocket({ host, port, reusePort: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOTSUP') throw error
    throw new PlatformUnsupportedError(`net.BoundSocket cannot set SO_REUSEPORT on ${process.platform} (libuv offers it on Linux, FreeBSD, DragonFly BSD, Solaris and AIX); pass your own PortSockets as the "sockets" option`)
  }
}

export const boundSocketPortSockets: PortSockets = {
  async listen (local, onConnection) {
    const bound = bind(local.host, local.port)
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(bound, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return server
  },

  dial (local, remote) {
    let bound: BoundSocket
    try {
      bound = bind(local.host, local.port)
    } catch (error) {
      return failedDial(error)
    }
    const socket = new net.Socket({ handle: bound, allowHalfOpen: true, ...START_ON_CONNECT } as net.SocketConstructorOpts)
    socket.connect(connectOptions(local, remote))
    return socket
  }
}
