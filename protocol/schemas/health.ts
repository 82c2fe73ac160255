// Schema of the liveness/readiness report.
import { Type } from 'typebox'

export const Health = Type.Object({
  status: Type.Literal('ok'),
  database: Type.Literal('ok'),
  heldPolls: Type.Integer({ description: 'Long-polls currently held open' }),
  uptimeSeconds: Type.Number()
}, { additionalProperties: false })
