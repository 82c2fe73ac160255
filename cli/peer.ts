// `punchline peer`: netcat over a punched connection. Registers, then connects
// to --connect TARGET or waits for one incoming introduction, and pipes
// stdin/stdout over the authenticated connection.
import type { Socket } from 'node:net'
import { Peer, type PunchedConnection } from '@punchline/sdk'
import { parseCommandArgs } from './args.js'
import { EXIT } from './exit.js'
import { PEER_OPTIONS, peerKeysOption, peerOptionsFrom } from './options.js'
import { progressReporter, reportFailure } from './progress.js'

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
  const values = parseCommandArgs(args, { ...PEER_OPTIONS, connect: { type: 'string' } })
  const options = await peerOptionsFrom(values, peerKeysOption(values['peer-key'], values.connect))
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
