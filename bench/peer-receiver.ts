// The receiving peer of the encryption benchmark's two-process trial, in a
// process of its own as a real peer is: it registers, says so over IPC,
// accepts one punched connection, reads `mib` MiB from it and says when the
// last byte arrived, with its CPU time over the transfer.
//   node --conditions=@punchline/source --import tsx bench/peer-receiver.ts SERVER ID ENCRYPT MIB
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import { Peer, type PunchedConnection } from '../sdk/index.js'

const [server, id, encrypt, mib] = process.argv.slice(2)
const total = Number(mib) * 1024 * 1024
const peer = await Peer.open({ server: server!, id: id!, localAddress: '127.0.0.1', privateEndpoints: [], encrypt: encrypt === 'true', reportOutcomes: false, identity: generateKeyPairSync('ed25519').privateKey })
process.send?.({ ready: true })
const [connection] = await once(peer, 'connection') as [PunchedConnection]
const cpu = process.cpuUsage()
let received = 0
connection.socket.on('data', (chunk: Buffer) => {
  received += chunk.length
  if (received < total) return
  const { user, system } = process.cpuUsage(cpu)
  process.send?.({ encrypted: connection.encrypted, cpuMs: (user + system) / 1000 })
})
process.on('disconnect', () => {
  connection.socket.destroy()
  void peer.close().then(() => process.exit(0))
})
