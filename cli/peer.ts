// `punchline peer`: netcat over a punched connection. Registers, then connects
// to --connect TARGET or waits for one incoming introduction, and pipes
// stdin/stdout over the authenticated connection.
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { Peer, type PunchedConnection } from '@punchline/sdk'
import { EXIT } from './exit.js'
import { PEER_OPTIONS, PEER_OPTIONS_HELP, peerOptionsFrom } from './options.js'
import { progressReporter, reportFailure } from './progress.js'

export const PEER_USAGE = `Usage: punchline peer --server URL [--id ID] [--connect TARGET] [options]

Connects stdin/stdout to another peer over a direct, authenticated TCP
connection punched through both NATs (like netcat). Without --connect, waits
for one incoming connection.

  --connect TARGET  connect to peer TARGET
${PEER_OPTIONS_HELP}

End of stdin half-closes the sending direction; the command exits once both
directions have ended. Progress goes to stderr.

Exit codes: 0 the connection ended cleanly, 1 failure (punch, server,
connection), 2 usage, 130 interrupted.

Examples:
  punchline peer --server http://rendezvous.example:8080 --id bob
  echo hello | punchline peer --server http://rendezvous.example:8080 --id alice --connect bob
  punchline peer --server http://rendezvous.example:8080 --connect bob --json 2>events.jsonl
`

/** Pipes stdin/stdout over the socket; resolves once both directions have ended. */
async function relay (socket: Socket, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let received = false
    let sent = false
    const check = (): void => { if (received && sent) resolve() }
    socket.on('error', reject)
    socket.on('end', () => { received = true; check() })
    socket.on('finish', () => { sent = true; check() })
    socket.pipe(output, { end: false })
    input.pipe(socket) // end of input ends (half-closes) the socket
  })
}

export async function runPeerCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { ...PEER_OPTIONS, connect: { type: 'string' } } })
  if (values.help === true) {
    process.stdout.write(PEER_USAGE)
    return EXIT.OK
  }
  const options = peerOptionsFrom(values)
  const { report, stop } = progressReporter(values.json)
  let peer: Peer
  try {
    peer = await Peer.open({ ...options, onTrace: report })
  } catch (error) {
    return reportFailure(report, error)
  }
  const onSignal = (): void => { stop(); void peer.close().finally(() => process.exit(EXIT.INTERRUPTED)) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    let connection: PunchedConnection | undefined
    if (values.connect !== undefined) {
      connection = await peer.connect(values.connect)
    } else {
      for await (const incoming of peer.connections()) {
        connection = incoming
        break
      }
    }
    if (connection === undefined) return EXIT.FAILURE
    await relay(connection.socket, process.stdin, process.stdout)
    report({ type: 'closed', peerId: connection.peerId })
    connection.socket.destroy()
    return EXIT.OK
  } catch (error) {
    return reportFailure(report, error)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    stop()
    await peer.close()
  }
}
