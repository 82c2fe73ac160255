// The birthday strategy's numbers (one endpoint-dependent NAT, over TCP), and
// the order of the ports the consistent side sprays. Pure: tests check the
// order and the bounds. Measured in the NAT laboratory (bench/randomizing-nat.md):
//   - Linux MASQUERADE --random-fully maps each new connection to a random
//     port of 1024-65535 (R = 64,512), no two live mappings alike, and ports
//     1024-2047 twice as often as the rest (a 16-bit random number modulo R):
//     that block holds 3.1% of the mappings in 1.6% of the range.
//   - A SYN gets through the randomizing NAT to one of its sockets only when it
//     comes from exactly the endpoint that socket targets: the randomizing side
//     targets the consistent side's observed public endpoint, and the
//     consistent side sprays from its punch port (whose mapping that is).
//   - With K sockets open and M distinct ports sprayed, P(hit) = 1 - (1 - K/R)^M:
//     K = 256, M = 1,024 gives 98.3% uniformly, 99.97% when the M are the
//     biased block; M = 2,048 gives 99.97% uniformly.

/** The ports a randomizing NAT maps to when the source port is 1024 or above (nf_nat_l4proto_unique_tuple). */
export const RANDOM_PORTS = { min: 1024, max: 65535 } as const
/** Drawn twice as often by --random-fully's modulo: sprayed first. */
export const BIASED_PORTS = { min: 1024, max: 2047 } as const

/**
 * Spray SYNs per second from the punch port. Lab: 2,000/s lost none of 4,000
 * SYNs; unpaced (10,500-12,800/s on a 2-core machine) lost 28% to bursts.
 */
export const SPRAY_SYNS_PER_SECOND = 2000
/**
 * Ports sprayed per punch, at most: the SYNs (and conntrack entries of the
 * consistent side's own NAT, each kept 120 s when the other NAT drops) one
 * punch may cost. 2,048: 99.97% against 256 sockets even without the bias.
 */
export const SPRAY_BUDGET = 2048
/** A sprayed socket is closed after this long: before the 1 s initial RTO, so each costs exactly one SYN. */
export const SPRAY_HOLD_MS = 900
/** Sockets the randomizing side keeps open at once towards the other's public endpoint (K). */
export const OPEN_SOCKETS = 256
/** Sockets the randomizing side opens per punch, at most: refused ones (a consistent NAT that resets) are replaced. */
export const OPEN_BUDGET = 1024
/**
 * A refused socket is replaced after this long: by then the other side's spray
 * has covered the biased block (1,024 ports at 2,000/s: 512 ms) and its NAT
 * lets a SYN from a sprayed port through.
 */
export const REOPEN_DELAY_MS = 600
/**
 * Sprays (either side's part) of one Peer never overlap, and the next starts
 * this long after the last ended: however many introductions arrive, a peer
 * sends at most SPRAY_BUDGET spray SYNs per ~31 s (like hyperdht's one
 * randomized punch at a time, 20 s apart), and its NAT holds at most a few
 * sprays' conntrack entries at once.
 */
export const SPRAY_MIN_GAP_MS = 30_000

/**
 * The ports to spray, in order: the biased block shuffled, then distinct
 * random ports of the rest of the range; `count` of them at most, never
 * `exclude` (the port the peer's NAT mapped towards the server).
 */
export function sprayPorts (count: number, random: () => number, exclude?: number): number[] {
  const ports: number[] = []
  const biased = Array.from({ length: BIASED_PORTS.max - BIASED_PORTS.min + 1 }, (_, index) => BIASED_PORTS.min + index)
  for (let index = biased.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    ;[biased[index], biased[other]] = [biased[other]!, biased[index]!]
  }
  for (const port of biased) {
    if (ports.length >= count) return ports
    if (port !== exclude) ports.push(port)
  }
  const seen = new Set(ports)
  const rest = RANDOM_PORTS.max - BIASED_PORTS.max
  while (ports.length < Math.min(count, rest + biased.length - (exclude === undefined ? 0 : 1))) {
    const port = BIASED_PORTS.max + 1 + Math.floor(random() * rest)
    if (seen.has(port) || port === exclude) continue
    seen.add(port)
    ports.push(port)
  }
  return ports
}
