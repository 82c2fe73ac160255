// Schemas of introductions: who meets whom, at which endpoints, with which
// shared secret, and the long-poll inbox that delivers them.
import { Type, type Static } from 'typebox'
import { POLL_WAIT_SECONDS } from '../limits.js'
import { PeerEndpoints, PeerId, Timestamp } from './common.js'

export const Introduction = Type.Object({
  id: Type.String({ format: 'uuid' }),
  secret: Type.String({ description: 'Random secret the two peers use to authenticate each other (base64url, 32 bytes)' }),
  role: Type.Enum(['initiator', 'target'], { description: 'The caller\'s side of the introduction' }),
  self: Type.With(PeerEndpoints, { description: 'The caller, as the server saw it when the introduction was made' }),
  peer: Type.With(PeerEndpoints, { description: 'The other peer: where to punch' }),
  createdAt: Timestamp,
  expiresAt: Timestamp
}, { additionalProperties: false })
export type Introduction = Static<typeof Introduction>

export const IntroduceBody = Type.Object({
  target: Type.With(PeerId, { description: 'Id of the peer to be introduced to' })
}, { additionalProperties: false })
export type IntroduceBody = Static<typeof IntroduceBody>

export const IntroductionParams = Type.Object({
  introductionId: Type.String({ format: 'uuid' })
}, { additionalProperties: false })
export type IntroductionParams = Static<typeof IntroductionParams>

const Cursor = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Inbox position: pass the cursor of the last response' })

export const InboxQuery = Type.Object({
  after: Type.Optional(Type.With(Cursor, { description: 'Acknowledges every introduction up to this cursor; returns the ones after it' })),
  wait: Type.Optional(Type.Integer({
    minimum: POLL_WAIT_SECONDS.min,
    maximum: POLL_WAIT_SECONDS.max,
    description: `Seconds to hold the request when nothing is pending (default ${POLL_WAIT_SECONDS.default})`
  }))
}, { additionalProperties: false })
export type InboxQuery = Static<typeof InboxQuery>

export const Inbox = Type.Object({
  introductions: Type.Array(Introduction),
  cursor: Cursor
}, { additionalProperties: false })
export type Inbox = Static<typeof Inbox>

export const AckBody = Type.Object({ cursor: Cursor }, { additionalProperties: false })
export type AckBody = Static<typeof AckBody>

export const AckResponse = Type.Object({ cursor: Cursor }, { additionalProperties: false })
