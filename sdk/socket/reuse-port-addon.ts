// PortSockets on node-unix-socket's prebuilt N-API addon, for Node versions
// without net.BoundSocket (20, 22) on Linux x64: it hands out file
// descriptors bound with SO_REUSEADDR + SO_REUSEPORT. An optional peer
// dependency of the SDK; nothing loads it where Node has its own primitives.
import { createRequire } from 'node:module'
import net from 'node:net'
import { isMainThread } from 'node:worker_threads'
import { PlatformUnsupportedError } from '../errors.js'
import { failedDial } from './failed-dial.js'
import { START_ON_CONNECT, connectOptions } from './family.js'
import type { PortSockets } from './port-sockets.js'

interface ReusePortAddon {
  socketNewSoReuseportFd: (domain: 'ipv4' | 'ipv6', port: number, ip: string) => number
  initCleanupHook: () => void
}

/**
 * The addon packages of node-unix-socket are required directly: its own
 * package lists optional per-platform builds that were never published, which
 * leaves any lock file out of sync for `npm ci`. Only the Linux x64 builds exist.
 */
export const ADDON_PACKAGES = ['node-unix-socket-linux-x64-gnu', 'node-unix-socket-linux-x64-musl'] as const
let addon: ReusePortAddon | null | undefined

function loadAddon (): ReusePortAddon | null {
  if (addon !== undefined) return addon
  addon = null
  const require = createRequire(import.meta.url)
  for (const name of ADDON_PACKAGES) {
    try {
      addon = require(name) as ReusePortAddon
      // Node aborts when a worker exits with the addon's uv handles open, unless they are cleaned up.
      if (!isMainThread) addon.initCleanupHook()
      break
    } catch {}
  }
  return addon
}

export function isAddonInstalled (): boolean {
  return loadAddon() !== null
}

const ERRNO_BY_MESSAGE: Record<string, string> = {
  'Address already in use': 'EADDRINUSE',
  'Cannot assign requested address': 'EADDRNOTAVAIL',
  'Permission denied': 'EACCES'
}

/** A TCP socket bound to host:port with SO_REUSEADDR + SO_REUSEPORT; returns its file descriptor. */
function createReuseportFd (port: number, host: string): number {
  if (net.isIP(host) === 0) throw new TypeError(`not an IP address: ${host}`)
  const loaded = loadAddon()
  if (loaded === null) throw new PlatformUnsupportedError(`the reuse-port addon is not installed (${ADDON_PACKAGES.join(' or ')}, Linux x64 only)`)
  try {
    return loaded.socketNewSoReuseportFd(net.isIPv4(host) ? 'ipv4' : 'ipv6', port, host)
  } catch (error) {
    // The addon reports every failure with code "Unknown"; its message is strerror()'s.
    const code = ERRNO_BY_MESSAGE[(error as Error).message]
    throw code === undefined ? error : Object.assign(error as Error, { code })
  }
}

export const addonPortSockets: PortSockets = {
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
      return failedDial(error)
    }
    const socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true, ...START_ON_CONNECT } as net.SocketConstructorOpts)
    socket.connect(connectOptions(local, remote))
    return socket
  }
}
