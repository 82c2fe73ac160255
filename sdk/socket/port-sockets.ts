// The socket primitives of a punch port, behind one small interface: every
// socket on the port (listener, dials, the connection to the rendezvous
// server) is bound with SO_REUSEADDR + SO_REUSEPORT. Node cannot set
// SO_REUSEPORT on outgoing sockets before 26.4 (net.BoundSocket), so this
// implementation takes bound file descriptors from node-unix-socket's
// prebuilt N-API addon; another one can replace it on a newer Node or
// another OS.
import { createRequire } from 'node:module'
import net from 'node:net'
import { isMainThread } from 'node:worker_threads'
import type { Endpoint } from '@punchline/protocol'
import { PlatformUnsupportedError } from '../errors.js'

interface ReusePortAddon {
  socketNewSoReuseportFd: (domain: 'ipv4' | 'ipv6', port: number, ip: string) => number
  initCleanupHook: () => void
}

/**
 * The addon packages of node-unix-socket are required directly: its own
 * package lists optional per-platform builds that were never published, which
 * leaves any lock file out of sync for `npm ci`. Only the Linux x64 builds exist.
 */
const ADDON_PACKAGES = ['node-unix-socket-linux-x64-gnu', 'node-unix-socket-linux-x64-musl']
let addon: ReusePortAddon | undefined

function reusePortAddon (): ReusePortAddon {
  if (addon !== undefined) return addon
  const require = createRequire(import.meta.url)
  for (const name of ADDON_PACKAGES) {
    try {
      addon = require(name) as ReusePortAddon
      // Node aborts when a worker exits with the addon's uv handles open, unless they are cleaned up.
      if (!isMainThread) addon.initCleanupHook()
      return addon
    } catch {}
  }
  throw new PlatformUnsupportedError(`SO_REUSEPORT sockets need ${ADDON_PACKAGES.join(' or ')} (Linux x64); this is ${process.platform} ${process.arch}. Pass your own PortSockets (e.g. on Node 26.4+ net.BoundSocket).`)
}

/** A TCP socket bound to host:port with SO_REUSEADDR + SO_REUSEPORT; returns its file descriptor. */
function createReuseportFd (port: number, host: string): number {
  if (net.isIP(host) === 0) throw new TypeError(`not an IP address: ${host}`)
  return reusePortAddon().socketNewSoReuseportFd(net.isIPv4(host) ? 'ipv4' : 'ipv6', port, host)
}

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
