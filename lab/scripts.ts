// Source text for the lab's hand-written programs (`node -e`): strangers that
// speak the API without our SDK, and the services and clients of forwarded
// ports; and reading what the clients print.
import type { ChildProcess } from 'node:child_process'

/**
 * Defines `registerWithKey(server, body)`: a fresh Ed25519 key, a challenge,
 * then the signed registration (as the SDK registers; the signed message is
 * protocol/identity.ts's). Resolves to `{ status, body }`.
 */
export const REGISTER_WITH_KEY = `
const registerWithKey = async (server, body) => {
  const { generateKeyPairSync, sign } = process.getBuiltinModule('node:crypto')
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const key = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64url')
  const { challenge } = await (await fetch(server + '/v1/challenges', { method: 'POST' })).json()
  const signature = sign(null, Buffer.from(['punchline/1 register', challenge, body.id, key].join('\\n')), privateKey).toString('base64url')
  const response = await fetch(server + '/v1/peers', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, proof: { publicKey: key, challenge, signature } }) })
  return { status: response.status, body: await response.json() }
}
`

/** An echo service on 127.0.0.1:`port`: every byte back, then the end. Prints "listening" once it is. */
export const echoService = (port: number): string =>
  `require('net').createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s) }).listen(${port}, '127.0.0.1', () => console.log('listening'))`

/**
 * A bulk client of 127.0.0.1:`port`: sends `mebibytes` MiB of random bytes at
 * once, half-closes and reads the echo; prints an EchoResult as JSON.
 */
export const bulkClient = (port: number, mebibytes: number): string => `
const { createHash, randomBytes } = require('crypto')
const payload = randomBytes(${mebibytes} * 1048576)
const received = createHash('sha256')
let bytes = 0
const socket = require('net').connect({ host: '127.0.0.1', port: ${port}, allowHalfOpen: true })
socket.on('data', (chunk) => { received.update(chunk); bytes += chunk.length })
socket.on('end', () => console.log(JSON.stringify({ sent: createHash('sha256').update(payload).digest('hex'), received: received.digest('hex'), bytes })))
socket.on('error', (error) => { console.log(JSON.stringify({ error: error.code })) })
socket.end(payload)
`

/** What a client of an echo service printed: SHA-256s of what it sent and got back, and the bytes it got back. */
export interface EchoResult { sent: string, received: string, bytes: number, sentBytes?: number, error?: string }

/** A client script's EchoResult, once it exits (an `error` saying so when it printed none). */
export async function resultOf (client: ChildProcess): Promise<EchoResult> {
  let output = ''
  client.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  await new Promise((resolve) => client.once('exit', resolve))
  try {
    return JSON.parse(output) as EchoResult
  } catch {
    return { sent: '', received: '', bytes: 0, error: `no result: ${JSON.stringify(output)}` }
  }
}
