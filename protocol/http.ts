// HTTP details of the rendezvous API beyond its schemas: the version prefix,
// the headers that carry credentials, and the relay's upgrade.

/** Every API route but /health lives under this prefix. */
export const API_PREFIX = '/v1'
/** Deployment-wide API key for registering, when the server requires one. */
export const API_KEY_HEADER = 'x-api-key'
/** A 429 or 503 says how long to wait before retrying, in seconds. */
export const RETRY_AFTER_HEADER = 'retry-after'

/**
 * The Upgrade token of the relay (RFC 9110 §7.8: a protocol name and its
 * version). Not "websocket": the relay carries raw bytes, with no framing to
 * negotiate. The version is the relay's framing (none, today), so that a
 * relay that frames or encrypts can be told apart.
 */
export const RELAY_PROTOCOL = 'punchline-relay/1'

/** Whether an Upgrade header (a list of protocols) names the relay's; names compare case-insensitively, like "websocket". */
export function namesRelayProtocol (header: string | string[] | undefined): boolean {
  return [header ?? []].flat().join(',').split(',').some((protocol) => protocol.trim().toLowerCase() === RELAY_PROTOCOL)
}

/** The relay of an introduction: `GET` with `Connection: Upgrade` and `Upgrade: RELAY_PROTOCOL`. */
export function relayPath (introductionId: string): string {
  return `${API_PREFIX}/introductions/${encodeURIComponent(introductionId)}/relay`
}
