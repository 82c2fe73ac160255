// The socket primitives of a punch port, behind one small interface: every
// socket on the port (listener, dials, the connection to the rendezvous
// server) is bound with SO_REUSEADDR + SO_REUSEPORT. Node cannot set
// SO_REUSEPORT on outgoing sockets before 26.4 (net.BoundSocket), so this
// implementation takes bound file descriptors from node-unix-socket; another
// one can replace it on a newer Node or another OS.
import net from 'node:net'
import { createReuseportFd } from 'node-unix-socket'
import type { Endpoint } from '../../server/schemas/common.js'

export interface LocalAddress {
  host: string
  port: number
}

export interface PortSockets {
  /** Listens on `local` (port 0: any free port); resolves once listening. */
  listen: (local: LocalAddress, onConnection: (socket: net.Socket) => void) => Promise<net.Server>
  /**
   * A socket bound to `local` that connects to `remote`. Failures, including
   * failing to bind, arrive as the socket's 'error' event.
   */
  dial: (local: LocalAddress, remote: Endpoint) => net.Socket
}

export const reusePortSockets: PortSockets = {
  async listen (local, onConnection) {
    const fd = createReuseportFd(local.port, local.host)
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ fd }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return server
  },

  dial (local, remote) {
    let fd: number
    try {
      fd = createReuseportFd(local.port, local.host)
    } catch (error) {
      const socket = new net.Socket({ allowHalfOpen: true })
      process.nextTick(() => socket.destroy(Object.assign(error as Error, { code: (error as NodeJS.ErrnoException).code ?? 'EBIND' })))
      return socket
    }
    const socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true })
    socket.connect(remote.port, remote.address)
    return socket
  }
}
