// Two peers on loopback, with the built SDK only: both register with the
// rendezvous server at argv[2], one connects to the other and they exchange a
// line. Prints one JSON line: this Node, its architecture, which socket
// primitives it used, and how the connection came up. Run by
// bench/platform/connect.ts under other Node versions and architectures.
import { Peer, defaultPortSockets, boundSocketPortSockets } from '@punchline/sdk'

const server = process.argv[2]
const options = { server, localAddress: '127.0.0.1', privateEndpoints: [] }
const bob = await Peer.open({ ...options, id: `bob-${process.pid}` })
const alice = await Peer.open({ ...options, id: `alice-${process.pid}` })
bob.on('connection', ({ socket }) => {
  socket.on('error', () => {})
  socket.pipe(socket)
})
const connection = await alice.connect(bob.id)
connection.socket.end('ping\n')
let echoed = ''
for await (const chunk of connection.socket) echoed += chunk
await alice.close()
await bob.close()
console.log(JSON.stringify({
  node: process.version,
  arch: process.arch,
  sockets: defaultPortSockets() === boundSocketPortSockets ? 'net.BoundSocket' : 'node-unix-socket',
  via: connection.via,
  path: connection.path,
  elapsedMs: Math.round(connection.elapsedMs),
  dials: connection.dials,
  echoed: echoed === 'ping\n'
}))
