// `punchline expose` and `punchline forward`: long-running port forwarding
// over punched connections. Both run until SIGINT/SIGTERM, then close
// everything (deregistering) and exit 0.
import { parseArgs } from 'node:util'
import { Exposure, Forwarder } from '@punchline/sdk'
import { EXIT, UsageError } from './exit.js'
import { PEER_OPTIONS, PEER_OPTIONS_HELP, hostPortOption, peerOptionsFrom } from './options.js'
import { progressReporter, reportFailure } from './progress.js'

export const EXPOSE_USAGE = `Usage: punchline expose --server URL --id ID --to ADDR:PORT --allow PEERS [options]

Makes a local TCP service reachable by chosen peers, with no open port: each
allowed peer that runs "punchline forward" gets a punched, authenticated
tunnel, and each of its clients a stream to a new connection to --to.
Introductions from other peers are declined before any punching.

  --to ADDR:PORT    the service to expose, e.g. 127.0.0.1:22
  --allow PEERS     peer ids that may connect, comma-separated, or '*' for any peer
${PEER_OPTIONS_HELP}

Runs until interrupted (SIGINT/SIGTERM), then deregisters and exits 0.
Exit codes: 0 stopped, 1 failure (e.g. the server refused the registration), 2 usage.

Examples:
  punchline expose --server http://rendezvous.example:8080 --id home --to 127.0.0.1:22 --allow laptop
  punchline expose --server http://rendezvous.example:8080 --id web --to 127.0.0.1:8000 --allow alice,bob --json
`

export const FORWARD_USAGE = `Usage: punchline forward --server URL --peer TARGET --listen ADDR:PORT [options]

Listens on --listen; each TCP client reaches the service that peer TARGET
exposes ("punchline expose"), through one punched, authenticated tunnel that
carries every client as its own stream (HTTP/2 CONNECT). The tunnel is
punched at start, so a wrong or unwilling peer fails at once; a tunnel that
goes down is punched again by the next client.

  --peer TARGET     id of the exposing peer
  --listen ADDR:PORT
                    where to accept clients, e.g. 127.0.0.1:2222 (port 0: any free port)
${PEER_OPTIONS_HELP}

Runs until interrupted (SIGINT/SIGTERM), then exits 0.
Exit codes: 0 stopped, 1 failure (the first punch failed: unknown peer, not
allowed, unreachable; or the server), 2 usage.

Examples:
  punchline forward --server http://rendezvous.example:8080 --id laptop --peer home --listen 127.0.0.1:2222
  ssh -p 2222 user@127.0.0.1
`

/** Runs until SIGINT/SIGTERM, then closes. */
async function untilSignal (close: () => Promise<void>): Promise<number> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await close()
  return EXIT.OK
}

export async function runExposeCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { ...PEER_OPTIONS, to: { type: 'string' }, allow: { type: 'string' } } })
  if (values.help === true) {
    process.stdout.write(EXPOSE_USAGE)
    return EXIT.OK
  }
  const service = hostPortOption('to', values.to, '127.0.0.1:22')
  if (values.allow === undefined) throw new UsageError('--allow is required: the peer ids that may connect (comma-separated), or \'*\' for any peer')
  const allow = values.allow.trim() === '*' ? '*' : values.allow.split(',').map((id) => id.trim()).filter(Boolean)
  if (allow !== '*' && allow.length === 0) throw new UsageError('--allow lists no peer id')
  const options = peerOptionsFrom(values)
  const { report, stop } = progressReporter(values.json)
  let exposure: Exposure
  try {
    exposure = await Exposure.open({ ...options, service, allow, onTrace: report })
  } catch (error) {
    return reportFailure(report, error)
  }
  report({ type: 'exposing', id: exposure.peer.id, service: `${service.host}:${service.port}`, allow })
  return await untilSignal(async () => { stop(); await exposure.close() })
}

export async function runForwardCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { ...PEER_OPTIONS, peer: { type: 'string' }, listen: { type: 'string' } } })
  if (values.help === true) {
    process.stdout.write(FORWARD_USAGE)
    return EXIT.OK
  }
  if (values.peer === undefined) throw new UsageError('--peer TARGET is required: the id of the exposing peer')
  const listen = hostPortOption('listen', values.listen, '127.0.0.1:2222', 0)
  const options = peerOptionsFrom(values)
  const { report, stop } = progressReporter(values.json)
  let forwarder: Forwarder
  try {
    forwarder = await Forwarder.open({ ...options, target: values.peer, listen, onTrace: report })
  } catch (error) {
    stop()
    return reportFailure(report, error)
  }
  return await untilSignal(async () => { stop(); await forwarder.close() })
}
