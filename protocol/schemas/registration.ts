// Schemas of the registration resource: a peer's id, observed public endpoint,
// reported private endpoints and liveness.
import { Type, type Static } from 'typebox'
import { TTL_SECONDS } from '../limits.js'
import { Endpoint, Mapping, PeerEndpoints, PeerId, PrivateEndpoints, Timestamp } from './common.js'
import { KeyProof } from './identity.js'

const TtlSeconds = Type.Integer({
  minimum: TTL_SECONDS.min,
  maximum: TTL_SECONDS.max,
  description: `Seconds the registration stays live without a request from the peer (default ${TTL_SECONDS.default})`
})

export const RegisterBody = Type.Object({
  id: Type.Optional(PeerId),
  privateEndpoints: PrivateEndpoints,
  ttlSeconds: Type.Optional(TtlSeconds),
  proof: Type.Optional(KeyProof)
}, {
  additionalProperties: false,
  description: 'Omit id to get a generated one. With a proof, the id is bound to the proven key: only that key registers it again, ' +
    'also while it is live (a restarted peer that lost its token) and for the reservation period after it ends. ' +
    'Without one, renewing a live id needs its bearer token, and an id bound to a key cannot be had.'
})
export type RegisterBody = Static<typeof RegisterBody>

export const UpdateRegistrationBody = Type.Object({
  privateEndpoints: Type.Optional(PrivateEndpoints),
  ttlSeconds: Type.Optional(TtlSeconds)
}, { additionalProperties: false, minProperties: 1 })
export type UpdateRegistrationBody = Static<typeof UpdateRegistrationBody>

export const PeerParams = Type.Object({ peerId: PeerId }, { additionalProperties: false })
export type PeerParams = Static<typeof PeerParams>

/** Where a peer sends its mapping probe. */
export const MappingProbeOffer = Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The server\'s mapping port, on the same address as the API', examples: [8081] })
}, {
  additionalProperties: false,
  description: 'Where to send the mapping probe (`POST /v1/peers/{peerId}/mapping`): this port of the address the registration\'s connection reached, ' +
    'from the same local port as that connection. Absent when the server has no mapping port (then `mapping` stays `unknown`).'
})
export type MappingProbeOffer = Static<typeof MappingProbeOffer>

export const Registration = Type.Object({
  ...PeerEndpoints.properties,
  ttlSeconds: TtlSeconds,
  createdAt: Timestamp,
  expiresAt: Timestamp,
  mappingProbe: Type.Optional(MappingProbeOffer)
}, { additionalProperties: false })
export type Registration = Static<typeof Registration>

export const RegistrationWithToken = Type.Object({
  ...Registration.properties,
  token: Type.String({ description: 'Bearer token for this registration. Shown only here: keep it secret.' })
}, { additionalProperties: false })
export type RegistrationWithToken = Static<typeof RegistrationWithToken>

/** What the server observed of a mapping probe, and what it concluded. */
export const MappingObservation = Type.Object({
  mapping: Mapping,
  publicEndpoint: Type.With(Endpoint, { description: 'The registration\'s public endpoint: the source of the peer\'s connection to the API port' }),
  probeEndpoint: Type.With(Endpoint, { description: 'The source of this request\'s connection, to the mapping port' })
}, { additionalProperties: false })
export type MappingObservation = Static<typeof MappingObservation>

/** What the server observed of a request from the peer's IPv6 punch port. */
export const Ipv6Observation = Type.Object({
  ipv6Endpoint: Type.With(Endpoint, { description: 'The source of this request\'s connection: the registration\'s IPv6 endpoint from now on' })
}, { additionalProperties: false })
export type Ipv6Observation = Static<typeof Ipv6Observation>
