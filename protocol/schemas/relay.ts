// Schemas of the relay: the two peers of an introduction attach to it, each
// with an HTTP/1.1 Upgrade and its own token, and the server splices their
// byte streams. OpenAPI cannot describe what follows a 101 (raw bytes, both
// ways); the operation documents the request, the 101 and every refusal.
import { Type } from 'typebox'
import { RELAY_PROTOCOL } from '../http.js'
import { errorResponse, errorResponses } from './common.js'

export const RelayUpgradeHeaders = Type.Object({
  connection: Type.String({ description: 'Must list `Upgrade`', examples: ['Upgrade'] }),
  upgrade: Type.String({ description: `Must name \`${RELAY_PROTOCOL}\``, examples: [RELAY_PROTOCOL] })
})

const SwitchingProtocols = Type.Null({
  description: `Switching Protocols: from the end of this response on, the connection carries the other peer's bytes, ` +
    'and what the caller writes reaches the other peer (TCP half-close included), once the other peer has attached too. ' +
    'Bytes written before that are held (bounded by TCP flow control) and delivered. A side alone for the server\'s ' +
    'peer wait is disconnected; so is a relayed connection idle or open beyond the server\'s bounds (with a TCP reset).',
  headers: {
    Connection: Type.String({ description: '`Upgrade`' }),
    Upgrade: Type.String({ description: `\`${RELAY_PROTOCOL}\`` })
  }
})

export const RelayResponses = {
  101: SwitchingProtocols,
  ...errorResponses(401, 404, 414, 429),
  403: errorResponse('The caller is not one of the introduction\'s two peers (`PUNCH_ERR_NOT_A_PARTICIPANT`), or the server does not relay (`PUNCH_ERR_RELAY_DISABLED`)'),
  409: errorResponse('The caller has attached to this introduction\'s relay already (`PUNCH_ERR_RELAY_ATTACHED`): one relayed connection per side and introduction'),
  410: errorResponse('The relay ended before the caller attached: the other peer left or waited too long (`PUNCH_ERR_RELAY_ENDED`); ask for a new introduction'),
  426: errorResponse(`Not an upgrade to \`${RELAY_PROTOCOL}\` (\`PUNCH_ERR_UPGRADE_REQUIRED\`)`),
  429: errorResponse('A limit was reached: the request rate (`PUNCH_ERR_RATE_LIMITED`), or the relayed connections of the caller or of the server (`PUNCH_ERR_RELAY_LIMITED`); retry after the Retry-After header\'s seconds'),
  503: errorResponse('The server is shutting down; retry')
}
