// @punchline/sdk: open a Peer on one punch port, then connect() to another
// peer or take incoming connections; each is a direct TCP connection through
// the NATs (or, where the NATs cannot be punched, through the server's relay),
// authenticated with the secret of its introduction and the peers' keys.
// Exposure and Forwarder forward TCP ports over such connections.
export { Peer, discoverPrivateEndpoints, DEFAULT_PUNCH_TIMEOUT_MS, type PeerOptions, type ConnectOptions } from './peer.js'
export type { PunchedConnection, Phase } from './punch/punch.js'
export { endpointLabel, type Path, type Candidate } from './punch/candidates.js'
export type { TraceEvent, TraceListener, PeerEvent, PunchEvent, SessionEvent, DecisionEvent, TunnelEvent, Via, ConnectionPath } from './trace.js'
export { RELAY_HEAD_START_MS, RELAY_MODES, type RelayMode, type RelayReason, type Strategy } from './punch/strategy.js'
export { defaultPortSockets, reusePortSockets, type PortSockets, type LocalAddress } from './socket/port-sockets.js'
export { boundSocketPortSockets } from './socket/bound-socket.js'
export { addonPortSockets } from './socket/reuse-port-addon.js'
export {
  PunchlineError, PunchTimeoutError, PeerUnknownError, AuthenticationFailedError, HandshakeInterruptedError, ServerUnreachableError,
  ServerRejectedError, AbortedError, PeerClosedError, InvalidOptionError, PlatformUnsupportedError, InvalidResponseError, PunchBusyError,
  PunchPreemptedError, BothMappingsDependentError, ServerUntrustedError, PathDeadError, PeerKeyMismatchError, PeerKeyChangedError, RelayRefusedError, type UnknownServerCode
} from './errors.js'
export { attachRelay, RELAY_ATTACH_TIMEOUT_MS, type AttachRelayOptions } from './relay/attach.js'
export type { Endpoint, Introduction, ErrorCode, Mapping, MappingPair } from '@punchline/protocol'
export { mappingPairOf } from '@punchline/protocol'
export { identityOf, type Identity, type IdentityKey } from './identity/identity.js'
export { identityFile, defaultIdentityFile, defaultKnownPeersFile } from './identity/identity-file.js'
export { KnownPeers } from './identity/known-peers.js'
export { Exposure, type ExposeOptions } from './tunnel/expose.js'
export { Forwarder, UPGRADE_DELAYS_MS, type ForwardOptions } from './tunnel/forward.js'
export type { ServiceAddress } from './tunnel/tunnel.js'
