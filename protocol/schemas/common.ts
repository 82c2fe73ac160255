// Schemas shared by every resource: peer ids, endpoints and the error body.
// They drive request validation, response serialization, the OpenAPI document
// and the SDK's types alike.
import { Type, type Static } from 'typebox'
import { MAX_PEER_ID_LENGTH, MAX_PRIVATE_ENDPOINTS, PEER_ID_PATTERN } from '../limits.js'
import { KEY_TEXT_PATTERN } from '../identity.js'
import { MAPPINGS, MAPPING_PAIRS } from '../mapping.js'

export const PeerId = Type.String({
  pattern: PEER_ID_PATTERN,
  minLength: 1,
  maxLength: MAX_PEER_ID_LENGTH,
  description: 'Peer id: 1-64 characters from A-Z a-z 0-9 . _ -, but not "." or ".." (URL dot-segments)',
  examples: ['alice']
})

export const Endpoint = Type.Object({
  address: Type.Union([
    Type.String({ format: 'ipv4', maxLength: 15 }),
    Type.String({ format: 'ipv6', maxLength: 45 })
  ], {
    description: 'An IPv4 or IPv6 address literal, without a zone id. A private endpoint must be a private address ' +
      '(10/8, 172.16/12, 192.168/16, or IPv6 unique-local fc00::/7): peers dial private endpoints only on a shared network.',
    examples: ['192.168.1.20']
  }),
  port: Type.Integer({ minimum: 1, maximum: 65535, examples: [40000] })
}, { additionalProperties: false })
export type Endpoint = Static<typeof Endpoint>

export const PrivateEndpoints = Type.Array(Endpoint, {
  maxItems: MAX_PRIVATE_ENDPOINTS,
  description: `The peer's LAN endpoints (at most ${MAX_PRIVATE_ENDPOINTS})`
})

export const Timestamp = Type.String({ format: 'date-time' })

export const PublicKey = Type.String({
  pattern: KEY_TEXT_PATTERN,
  description: 'An Ed25519 public key: its raw 32 bytes, base64url (43 characters)',
  examples: ['11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo']
})
export const Mapping = Type.Enum(MAPPINGS, {
  description: 'How the peer\'s NAT maps its punch port, as the server observed it from two of its ports (the API port and the mapping port, ' +
    'both reached from the same local port): `independent` when both saw the same public address and port (the port other peers can punch to), ' +
    '`dependent` when they saw different ones (a new public port per destination: "symmetric" NATs, `MASQUERADE --random-fully`), ' +
    '`unknown` when the peer has not probed from its current public address (or the server has no mapping port)',
  examples: ['independent']
})
export type Mapping = Static<typeof Mapping>

export const MappingPair = Type.Enum(MAPPING_PAIRS, {
  description: 'The mappings of an introduction\'s two peers, in the order independent, dependent, unknown (e.g. `independent+dependent`): ' +
    'the server\'s observations when the introduction was made'
})
export type MappingPair = Static<typeof MappingPair>

/** A peer and where it can be reached: what a registration records and an introduction hands out. */
export const PeerEndpoints = Type.Object({
  id: PeerId,
  publicEndpoint: Type.With(Endpoint, { description: 'Source address and port of the peer\'s connection, as the server observed it' }),
  privateEndpoints: PrivateEndpoints,
  publicKey: Type.Union([PublicKey, Type.Null()], { description: 'The Ed25519 public key the peer proved it holds when it registered (its id is bound to it), or null for a peer that registered without one' }),
  mapping: Mapping,
  ipv6Endpoint: Type.Optional(Type.With(Endpoint, {
    description: 'The peer\'s IPv6 endpoint as the server observed it: the source address and port of a connection from its IPv6 punch port ' +
      '(`POST /v1/peers/{peerId}/ipv6-endpoint`). Absent when the peer has not sent one from its current public address (no IPv6, ' +
      'or it moved since). Peers dial it like the public endpoint; a stateful IPv6 firewall lets the punch through as a NAT does.',
    examples: [{ address: '2001:db8:1:1::2', port: 40000 }]
  }))
}, { additionalProperties: false })
export type PeerEndpoints = Static<typeof PeerEndpoints>


export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable error code, e.g. PUNCH_ERR_VALIDATION', examples: ['PUNCH_ERR_VALIDATION'] }),
  error: Type.String({ description: 'HTTP status text' }),
  message: Type.String(),
  field: Type.Optional(Type.String({ description: 'The offending input, e.g. body/privateEndpoints/0/port' }))
}, { additionalProperties: false })
export type ErrorResponse = Static<typeof ErrorResponse>

const ERROR_DESCRIPTIONS = {
  400: 'Invalid input (see code and field), or a malformed URL',
  401: 'Missing, malformed or unknown credentials (bearer token, API key or metrics token)',
  403: 'The token does not belong to this peer or introduction',
  404: 'Not found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Request body too large',
  414: 'A path segment is too long',
  415: 'Unsupported Content-Type',
  421: 'Sent to the wrong port: mapping probes are answered on the mapping port only',
  426: 'This route is reached by an HTTP/1.1 Upgrade (the Upgrade header says to which protocol)',
  429: 'A limit was reached; retry after the Retry-After header\'s seconds',
  500: 'The server failed; retry',
  503: 'Temporarily unavailable; retry after the Retry-After header\'s seconds when given'
} as const
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS
/** What every operation can answer: a malformed URL (400) and a failure of the server (500). */
const ALWAYS = [400, 500] as const

/** The error body's schema, documented as one status's answer. */
export function errorResponse (description: string): typeof ErrorResponse {
  return Type.Object(ErrorResponse.properties, { additionalProperties: false, description })
}

/** Response schemas for the error statuses a route can answer with (400 and 500 always). */
export function errorResponses<S extends ErrorStatus> (...statuses: S[]): Record<S | typeof ALWAYS[number], typeof ErrorResponse> {
  return Object.fromEntries([...new Set([...ALWAYS, ...statuses])].sort().map((status) => [
    status,
    errorResponse(ERROR_DESCRIPTIONS[status])
  ])) as Record<S | typeof ALWAYS[number], typeof ErrorResponse>
}

/** OpenAPI security requirement for routes that need the peer's token. */
export const bearerAuth = [{ bearerAuth: [] }]
