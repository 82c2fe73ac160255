// Two peers and a rendezvous server, in one program, with nothing but the
// package: `node examples/two-peers.mjs` (after `npm ci`).
// Pass a server URL to use a running server instead: `node examples/two-peers.mjs http://host:8080`.
//
// bob waits for connections; alice asks the server to introduce her to bob,
// both punch, and each gets a direct, authenticated TCP socket to the other.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Peer } from 'punchline/sdk'
import { resolveConfig, startServer } from 'punchline/server'

let server
let url = process.argv[2]
if (url === undefined) {
  const databasePath = path.join(mkdtempSync(path.join(tmpdir(), 'punchline-example-')), 'punchline.db')
  server = await startServer(resolveConfig({ host: '127.0.0.1', port: '0', databasePath, logLevel: 'warn' }))
  url = `http://127.0.0.1:${server.server.address().port}`
}

const bob = await Peer.open({ server: url, id: `bob-${process.pid}` })
const alice = await Peer.open({ server: url, id: `alice-${process.pid}` })

// bob answers every connection with a greeting and echoes what he receives.
bob.on('connection', ({ socket, peerId }) => {
  socket.on('error', (error) => console.error(`bob: connection from ${peerId} failed: ${error.message}`))
  socket.write(`hello ${peerId}, this is bob\n`)
  socket.pipe(socket)
})

const connection = await alice.connect(bob.id)
console.log(`alice: connected to ${connection.peerId} via ${connection.via} over the ${connection.path} path ` +
  `${connection.remote.address}:${connection.remote.port} in ${Math.round(connection.elapsedMs)} ms`)

connection.socket.on('error', (error) => console.error(`alice: connection failed: ${error.message}`))
connection.socket.end('thanks, bye\n')
let received = ''
for await (const chunk of connection.socket) received += chunk
process.stdout.write(received)

await alice.close()
await bob.close()
await server?.close()
