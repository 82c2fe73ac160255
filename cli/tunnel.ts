// `punchline expose` and `punchline forward`: long-running port forwarding
// over punched connections. Both run until SIGINT/SIGTERM, then close
// everything (deregistering) and exit 0.
import { Exposure, Forwarder } from '@punchline/sdk'
import { parseCommandArgs } from './args.js'
import { EXIT, UsageError } from './exit.js'
import { PEER_OPTIONS, hostPortOption, peerKeysOption, peerOptionsFrom } from './options.js'
import { progressReporter, reportFailure } from './progress.js'

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
  const values = parseCommandArgs(args, { ...PEER_OPTIONS, to: { type: 'string' }, allow: { type: 'string' } })
  const service = hostPortOption('to', values.to, '127.0.0.1:22')
  if (values.allow === undefined) throw new UsageError('--allow is required: the peer ids that may connect (ID or ID=KEY, comma-separated), or \'*\' for any peer')
  const entries = values.allow.trim() === '*' ? '*' : values.allow.split(',').map((entry) => entry.trim()).filter(Boolean)
  if (entries !== '*' && entries.length === 0) throw new UsageError('--allow lists no peer id')
  // ID=KEY entries allow the id only with that key.
  const allow = entries === '*' ? '*' : entries.map((entry) => entry.split('=')[0]!)
  const allowedKeys = entries === '*' ? {} : peerKeysOption(entries.filter((entry) => entry.includes('=')).join(',') || undefined, undefined)
  const options = await peerOptionsFrom(values, { ...peerKeysOption(values['peer-key'], undefined), ...allowedKeys })
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
  const values = parseCommandArgs(args, { ...PEER_OPTIONS, peer: { type: 'string' }, listen: { type: 'string' } })
  if (values.peer === undefined) throw new UsageError('--peer TARGET is required: the id of the exposing peer')
  const listen = hostPortOption('listen', values.listen, '127.0.0.1:2222', 0)
  const options = await peerOptionsFrom(values, peerKeysOption(values['peer-key'], values.peer))
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
