// Source text for the lab's hand-written clients (`node -e`, CommonJS or
// ES module): what a stranger that speaks the API without our SDK runs.

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
