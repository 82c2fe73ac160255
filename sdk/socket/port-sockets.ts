// The socket primitives of a punch port, behind one small interface: every
// socket on the port (listener, dials, the connection to the rendezvous
// server) is bound with SO_REUSEADDR + SO_REUSEPORT, IPv4 or IPv6. Node's
// own net.BoundSocket (24.21+, 26.10+) implements it without an addon; on an
// older Node on Linux x64 the optional node-unix-socket addon does; another
// implementation can be passed as PeerOptions.sockets.
import type net from 'node:net'
import type { Endpoint } from '@punchline/protocol'
import { PlatformUnsupportedError } from '../errors.js'
import { addonPortSockets, isAddonInstalled, ADDON_PACKAGES } from './reuse-port-addon.js'
import { boundSocketPortSockets, hasBoundSocket } from './bound-socket.js'

export interface LocalAddress {
  host: string
  port: number
}

export interface PortSockets {
  /** Listens on `local` (port 0: any free port); resolves once listening. */
  listen: (local: LocalAddress, onConnection: (socket: net.Socket) => void) => Promise<net.Server>
  /**
   * A socket bound to `local` that connects to `remote`. Failures, including
   * failing to bind, arrive as the socket's 'error' event. A name as
   * `remote.address` (the rendezvous server's) is resolved in the family of
   * `local` only (see ./family.ts).
   */
  dial: (local: LocalAddress, remote: Endpoint) => net.Socket
}

/** Why this Node on this platform has no reuse-port sockets, and what to use instead. */
export function unsupportedPlatformMessage (platform: string = process.platform, arch: string = process.arch, version: string = process.version): string {
  const here = `Node ${version} on ${platform} ${arch}`
  if (platform === 'darwin' || platform === 'win32') {
    return `punch ports need SO_REUSEPORT sockets, which Node's net.BoundSocket offers only where libuv supports them (Linux, FreeBSD, DragonFly BSD, Solaris, AIX); this is ${here}. Pass your own PortSockets as the "sockets" option.`
  }
  const addon = platform === 'linux' && arch === 'x64'
    ? `, or keep this Node and install the optional addon: npm install ${ADDON_PACKAGES[0]}@0.2.7 (musl: ${ADDON_PACKAGES[1]})`
    : ''
  return `punch ports need SO_REUSEPORT sockets: use Node 24.21 or newer (net.BoundSocket, no addon)${addon}; this is ${here}.`
}

/** Node's own primitives where it has them, else the addon's; throws PlatformUnsupportedError saying what to use when neither exists. */
export function defaultPortSockets (): PortSockets {
  if (hasBoundSocket()) return boundSocketPortSockets
  if (isAddonInstalled()) return addonPortSockets
  throw new PlatformUnsupportedError(unsupportedPlatformMessage())
}

/** @deprecated pass no `sockets` option (or defaultPortSockets()): the same primitives, chosen for this Node. */
export const reusePortSockets: PortSockets = {
  listen: async (local, onConnection) => await defaultPortSockets().listen(local, onConnection),
  dial: (local, remote) => defaultPortSockets().dial(local, remote)
}
