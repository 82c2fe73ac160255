// The punch port on IPv6: a second listener, on `::` at the IPv4 punch
// port's number where that is free on IPv6 (one number to open in a host
// firewall, one to read in traces), else at whatever port IPv6 gives us, and
// none on a host without IPv6. Both listeners hand their connections to the
// same router; punches dial IPv6 candidates from this one.
import type { AddressInfo, Server, Socket } from 'node:net'
import type { LocalAddress, PortSockets } from './port-sockets.js'

/** Where IPv6 punch ports listen: every IPv6 address of the host (global and unique-local). */
export const IPV6_ANY = '::'

/** What binding the IPv6 punch port came to. */
export interface Ipv6Port {
  listener: Server | undefined
  local: LocalAddress | undefined
  /** Why it is not at `ipv4Port`, or missing; undefined when it is where it should be. */
  message: string | undefined
}

/** No IPv6 punch port: not asked for. */
export const NO_IPV6_PORT: Ipv6Port = { listener: undefined, local: undefined, message: undefined }

/** Binds and listens on IPv6 at `ipv4Port`, else at any port; never throws. */
export async function listenIpv6 (sockets: PortSockets, ipv4Port: number, onConnection: (socket: Socket) => void): Promise<Ipv6Port> {
  let listener: Server
  let message: string | undefined
  try {
    listener = await sockets.listen({ host: IPV6_ANY, port: ipv4Port }, onConnection)
  } catch (first) {
    const code = (first as NodeJS.ErrnoException).code ?? (first as Error).message
    try {
      listener = await sockets.listen({ host: IPV6_ANY, port: 0 }, onConnection)
    } catch (error) {
      return { listener: undefined, local: undefined, message: `no IPv6 punch port (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): punching over IPv4 only` }
    }
    message = `port ${ipv4Port} is taken on IPv6 (${code}): the IPv6 punch port is ${(listener.address() as AddressInfo).port}`
  }
  const { port } = listener.address() as AddressInfo
  return { listener, local: { host: IPV6_ANY, port }, message }
}
