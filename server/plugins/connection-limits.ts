// Bounds on TCP connections, before any request: at most `maxConnections` in
// all, `maxConnectionsPerAddress` from one source address (IPv6: one prefix),
// and a connection that has sent nothing within FIRST_BYTE_TIMEOUT_MS is
// closed (an idle connection costs a file descriptor and memory, and nothing
// else on the server would ever end it).
import fp from 'fastify-plugin'
import type { Socket } from 'node:net'
import { addressKey } from '../endpoint.js'

/** A new connection must send its first byte (a request, or a TLS ClientHello) within this long. */
export const FIRST_BYTE_TIMEOUT_MS = 5000

export interface ConnectionLimitsOptions {
  maxConnections: number
  maxConnectionsPerAddress: number
  ipv6PrefixLength: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Connections open right now, per address key (for tests and metrics). */
    connectionsByAddress: ReadonlyMap<string, number>
  }
}

export default fp<ConnectionLimitsOptions>(async function connectionLimits (app, { maxConnections, maxConnectionsPerAddress, ipv6PrefixLength }) {
  const open = new Map<string, number>()
  app.decorate('connectionsByAddress', open)
  app.server.maxConnections = maxConnections
  app.server.on('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress ?? '', ipv6PrefixLength)
    const count = (open.get(key) ?? 0) + 1
    if (count > maxConnectionsPerAddress) {
      socket.destroy()
      return
    }
    open.set(key, count)
    // bytesRead counts what arrived even though the HTTP parser consumes the socket natively.
    const silent = setTimeout(() => { if (socket.bytesRead === 0) socket.destroy() }, FIRST_BYTE_TIMEOUT_MS)
    silent.unref()
    socket.once('close', () => {
      clearTimeout(silent)
      const left = (open.get(key) ?? 1) - 1
      if (left === 0) open.delete(key)
      else open.set(key, left)
    })
  })
}, { name: 'connection-limits' })
