// The server's abuse limits lifted, for load tests and benchmarks: every
// client there comes from one loopback address, and the limits would only
// measure themselves. As buildApp options, and as `punchline serve` flags.
// The per-address bound is off (0), not just high: counting would walk every
// registration the test made from 127.0.0.1.
import { SETTINGS } from '../server/settings.js'

export const LIMITS_LIFTED = {
  maxRegistrationsPerAddress: 0,
  maxPendingIntroductions: 100_000,
  rateLimitPerAddress: 100_000_000,
  rateLimitPerPeer: 100_000_000,
  introductionsPerTarget: 1_000_000,
  introductionsPerPair: 1_000_000,
  introductionsPerAddressAndTarget: 1_000_000,
  maxConnectionsPerAddress: 10_000_000,
  relayMaxPerPeer: 1_000_000,
  relayMaxTotal: 10_000_000,
  relayBytesPerSecond: 2 ** 40
} as const

/** The same, as flags of `punchline serve`. */
export function liftedLimitFlags (): string[] {
  return Object.entries(LIMITS_LIFTED).flatMap(([name, value]) => [`--${SETTINGS[name as keyof typeof LIMITS_LIFTED].flag}`, String(value)])
}
