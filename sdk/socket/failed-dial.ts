// A dial that failed before it began (the punch port could not be bound):
// PortSockets.dial reports every failure as the socket's 'error' event.
import net from 'node:net'

export function failedDial (error: unknown): net.Socket {
  const socket = new net.Socket({ allowHalfOpen: true })
  process.nextTick(() => socket.destroy(Object.assign(error as Error, { code: (error as NodeJS.ErrnoException).code ?? 'EBIND' })))
  return socket
}
