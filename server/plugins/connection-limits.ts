// Bounds on TCP connections, before any request: at most `maxConnections` in
// all, `maxConnectionsPerAddress` from one source address (IPv6: one prefix),
// and a connection that has sent nothing within FIRST_BYTE_TIMEOUT_MS is
// closed (an idle connection costs a file descriptor and memory, and nothing
// else on the server would ever end it). The bounds hold across the app's
// listening sockets: the API port and the mapping port count together.
import fp from 'fastify-plugin'
import type { Server, Socket } from 'node:net'
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
    /** Puts another listening server of the app under the same bounds. */
    limitConnections: (server: Server) => void
  }
}

export default fp<ConnectionLimitsOptions>(async function connectionLimits (app, { maxConnections, maxConnectionsPerAddress, ipv6PrefixLength }) {
  const open = new Map<string, number>()
  let total = 0
  app.decorate('connectionsByAddress', open)
  app.decorate('limitConnections', (server: Server) => {
    // Node refuses beyond this before any JavaScript runs; the count below holds the total across servers.
    server.maxConnections = maxConnections
    server.on('connection', (socket: Socket) => {
      const key = addressKey(socket.remoteAddress ?? '', ipv6PrefixLength)
      const count = (open.get(key) ?? 0) + 1
      if (count > maxConnectionsPerAddress || total >= maxConnections) {
        socket.destroy()
        return
      }
      open.set(key, count)
      total++
      // bytesRead counts what arrived even though the HTTP parser consumes the socket natively.
      const silent = setTimeout(() => { if (socket.bytesRead === 0) socket.destroy() }, FIRST_BYTE_TIMEOUT_MS)
      silent.unref()
      socket.once('close', () => {
        clearTimeout(silent)
        total--
        const left = (open.get(key) ?? 1) - 1
        if (left === 0) open.delete(key)
        else open.set(key, left)
      })
    })
  })
  app.limitConnections(app.server)
}, { name: 'connection-limits' })
