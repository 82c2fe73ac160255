// A bare TCP forwarder, the relay benchmark's floor: it pairs the
// connections it accepts two by two and pipes each pair both ways with
// stream.pipe (backpressure, half-close, nothing else), in a process of its
// own like the server. It says its port, and its CPU time when asked, over IPC.
//   node --import tsx bench/pipe-forwarder.ts
import { createServer, type AddressInfo, type Socket } from 'node:net'

let waiting: Socket | undefined
const server = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {})
  if (waiting === undefined) {
    waiting = socket
    return
  }
  socket.pipe(waiting).pipe(socket)
  waiting = undefined
})
server.listen(0, '127.0.0.1', () => { process.send?.({ port: (server.address() as AddressInfo).port }) })
process.on('message', () => {
  const { user, system } = process.cpuUsage()
  process.send?.({ cpuMs: (user + system) / 1000 })
})
process.on('disconnect', () => { process.exit(0) })
