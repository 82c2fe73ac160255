// punchline SDK: open a Peer on one punch port, then connect() to another peer
// or take incoming connections; each is a direct TCP connection through the
// NATs, authenticated with the secret of its introduction.
export { Peer, discoverPrivateEndpoints, DEFAULT_PUNCH_TIMEOUT_MS, type PeerOptions, type ConnectOptions, type PeerEvent } from './peer.js'
export type { PunchedConnection, PunchEvent, Via, Phase } from './punch/punch.js'
export { endpointLabel, type Path, type Candidate } from './punch/candidates.js'
export { reusePortSockets, type PortSockets, type LocalAddress } from './socket/port-sockets.js'
export {
  PunchlineError, PunchTimeoutError, PeerUnknownError, AuthenticationFailedError, HandshakeInterruptedError, ServerUnreachableError,
  ServerRejectedError, AbortedError, PeerClosedError, InvalidOptionError, PlatformUnsupportedError
} from './errors.js'
export type { Endpoint, Introduction } from '@punchline/protocol'
export { Exposure, type ExposeOptions, type ExposeEvent } from './tunnel/expose.js'
export { Forwarder, type ForwardOptions, type ForwardEvent } from './tunnel/forward.js'
export type { ServiceAddress } from './tunnel/tunnel.js'
