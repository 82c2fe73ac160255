// HTTP/1.1 upgrades through Fastify's own request path. Node gives a request
// with "Connection: Upgrade" to the server's 'upgrade' listeners, its socket
// already taken from the HTTP parser, and never to Fastify; with no listener
// it serves it as an ordinary request whose socket stays with the parser (the
// bytes after it would be parsed as the next request), which nothing can
// splice. So a listener routes the request into Fastify, as @fastify/websocket
// does, with a response bound to the socket: every hook runs as on any route
// (rate limits, authentication, validation), a refusal is the ordinary JSON
// answer (then the connection closes: no parser is left to read another
// request), and a route that accepts takes the socket with switchProtocols().
// An upgrade pipelined behind a request still being answered closes the
// connection: Node hands it over at once, and no answer could come in order.
import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/**
 * After a refusal, the connection is ended and the client's bytes read and
 * dropped for at most this long (closing with unread bytes would send a reset,
 * which can destroy the answer before the client reads it); then it is destroyed.
 */
export const REFUSED_LINGER_MS = 2000

interface Upgrade {
  socket: Socket
  /** Bytes that arrived after the request's head. */
  head: Buffer
  response: ServerResponse
}

const upgrades = new WeakMap<IncomingMessage, Upgrade>()

/** Node removes its own 'error' listener at an upgrade: without one, a reset would crash the server. */
function ignoreError (): void {}

/** Whether the request came as an upgrade (and its socket is still to be taken). */
export function isUpgrade (request: FastifyRequest): boolean {
  return upgrades.has(request.raw)
}

/**
 * Answers 101 with `protocol` and hands over the socket, holding the bytes
 * that came after the request; undefined when the client has left. The reply
 * is hijacked: Fastify sends nothing more.
 */
export function switchProtocols (request: FastifyRequest, reply: FastifyReply, protocol: string): Socket | undefined {
  const upgrade = upgrades.get(request.raw)
  if (upgrade === undefined) throw new Error('switchProtocols: not an upgrade request')
  upgrades.delete(request.raw)
  const { socket, head, response } = upgrade
  void reply.hijack()
  response.detachSocket(socket)
  if (socket.destroyed || !socket.writable) return undefined
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`)
  if (head.length > 0) socket.unshift(head)
  return socket
}

/** Routes the server's upgrade requests through `app`; close() stops, and destroys refused connections still lingering. */
export function routeUpgrades (app: FastifyInstance): { close: () => void } {
  const lingering = new Map<Socket, NodeJS.Timeout>()

  const linger = (socket: Socket): void => {
    if (socket.destroyed) return
    socket.end()
    socket.resume()
    const timer = setTimeout(() => { socket.destroy() }, REFUSED_LINGER_MS)
    lingering.set(socket, timer)
    socket.once('close', () => {
      clearTimeout(timer)
      lingering.delete(socket)
    })
  }

  const onUpgrade = (request: IncomingMessage, socket: Socket, head: Buffer): void => {
    socket.on('error', ignoreError)
    const response = new ServerResponse(request)
    response.shouldKeepAlive = false
    try {
      // Throws when the upgrade came pipelined behind a request still being answered: no answer could come in order.
      response.assignSocket(socket)
      response.once('finish', () => { linger(socket) })
      upgrades.set(request, { socket, head, response })
      app.routing(request, response)
    } catch (error) {
      app.log.info({ err: error }, 'closed a connection whose upgrade could not be served')
      socket.destroy()
    }
  }

  app.server.on('upgrade', onUpgrade)
  return {
    close: () => {
      app.server.off('upgrade', onUpgrade)
      for (const [socket, timer] of lingering) {
        clearTimeout(timer)
        socket.destroy()
      }
      lingering.clear()
    }
  }
}
