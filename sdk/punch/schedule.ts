// When to dial a candidate again after a dial failed. Pure: the attempt
// supplies the facts and a random source; tests check the bounds.
//
// Why this shape (see README, "Retry schedule", for the measurements): behind
// NATs that answer unsolicited SYNs with a reset, a dial only succeeds when
// both peers' SYNs are in flight at once, i.e. when the two sides' send times
// differ by less than the one-way delay between the NATs. A fixed retry period
// keeps that difference constant forever. So each retry waits a random time
// that scales with the round trip the failure took (the reset came back after
// one NAT-to-NAT round trip): the next SYN lands at a fresh, uniformly spread
// offset against the other side's, and about two rounds in three bring the
// two into the window. A floor on the gap bounds the SYN rate where the round
// trip is tiny (LAN, loopback), where immediate retries would be a busy loop.

import { REMOTE_SYNS_PER_SECOND } from './dial-budget.js'

/** Gap added to every retry: caps one candidate at ~1000 SYNs/s even with instant resets. */
export const MIN_RETRY_GAP_MS = 1
/** Jitter never spreads less than this, so near-zero round trips still mix the phase. */
export const JITTER_FLOOR_MS = 3
/** Jitter spreads over this many failure round trips (measured: 1 beat 2 and 0.5, see README). */
export const JITTER_ROUND_TRIPS = 1
/** After this long, a still-failing punch slows down ... */
export const FAST_PHASE_MS = 4000
/** ... to at least this gap between SYNs to one candidate. */
export const SLOW_RETRY_GAP_MS = 100
/** Unreachable networks and timeouts say nothing about timing: retry them slowly. */
export const UNREACHABLE_RETRY_MS = 250
/** A dial still unanswered after this long is abandoned and redialed. */
export const DIAL_TIMEOUT_MS = 3000
/**
 * A candidate that has refused a dial answers the next within about that
 * refusal's round trip (its NAT answers from near it); one left unanswered
 * for this many of those round trips lost its SYN (or the answer), and is
 * abandoned and dialed again at once, instead of waiting for the kernel's
 * SYN retransmission a second later (then 2 s more). Only a refusal times
 * it: a NAT that drops unsolicited SYNs leaves every dial unanswered until
 * the peer's SYN opens it, and the dial must still be there, SYN_SENT, when
 * the peer's SYN comes (the lab, guessing from the server's round trip before
 * any refusal, lost 3 punches in 100 to the relay that way behind dropping
 * NATs). Measured in the lab with 15% of the peers' SYNs dropped: README,
 * "Retry schedule".
 */
export const LOST_SYN_ROUND_TRIPS = 4
/** ... but never sooner than this: an event loop a loaded host holds up is not a lost SYN. */
export const LOST_SYN_MIN_MS = 200

// The budget of one punch (see README, "Security model"): whatever a peer or
// the server says, one introduction makes this peer send at most this much
// towards one candidate.
/**
 * Dials to one candidate per punch. Public endpoints race NAT timing: the lab
 * needed up to 128 when one side learned of the punch 300 ms late behind NATs
 * that answer with resets. Near 0 ms round trips the schedule spends the first
 * 256 (the address's burst, ./dial-budget.ts) in well under a second; the rest
 * go at the address's steady 50 a second, so that a peer that learns of the
 * punch seconds late (a loaded host, a slow long poll) still finds us dialing
 * for ~5 s. A private endpoint is on our own network, with no NAT to race: a
 * listening peer answers the first SYN.
 */
export const MAX_DIALS_PER_CANDIDATE = { public: 512, private: 16 } as const
/**
 * Connections to one candidate that came up but failed or broke off the
 * handshake, per punch; then the candidate is left alone. NAT races leave a
 * connection up on one side now and then (a handful per punch at most in the
 * lab); a host that accepts and closes every connection gets no more than this.
 */
export const MAX_FAILED_CONNECTIONS_PER_CANDIDATE = 8

/** Errors that mean "the other side (or its NAT) answered: no" — timing-sensitive. */
const REFUSALS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'])

export interface RetryFacts {
  /** errno-style code of the failure, e.g. ECONNREFUSED. */
  code: string
  /** How long the failed dial took, send to failure. */
  failureRoundTripMs: number
  /**
   * The fastest refusal from this candidate so far in this punch, this one included
   * (Infinity when none). A refused dial whose first SYN was lost (two NATs' conntrack
   * entries clash now and then when both sides' SYNs cross at once) is answered only
   * after the kernel's SYN retransmission, a second later; as a spread that second would
   * stall the candidate for up to another one. The lab saw a side pause 1.9 s that way
   * at 0 ms, while the other side dialed alone into its resets until the relay took over.
   */
  fastestRefusalMs: number
  /** Time since the punch attempt started. */
  elapsedMs: number
  /** A number in [0, 1). */
  random: number
}

/** The other side (or its NAT) answered the dial with a no. */
export function isRefusal (code: string): boolean {
  return REFUSALS.has(code)
}

/** How long a dial may go unanswered before it is abandoned (and dialed again), given the candidate's fastest refusal in this punch (Infinity when none). */
export function dialTimeoutMs (fastestRefusalMs: number): number {
  return Math.min(DIAL_TIMEOUT_MS, Math.max(LOST_SYN_MIN_MS, LOST_SYN_ROUND_TRIPS * fastestRefusalMs))
}

/** Milliseconds to wait before the next dial to the same candidate. */
export function retryDelayMs ({ code, failureRoundTripMs, fastestRefusalMs, elapsedMs, random }: RetryFacts): number {
  // A dial a refusing candidate left unanswered lost its SYN (see dialTimeoutMs): it goes again at once.
  const lostSyn = code === 'ETIMEDOUT' && Number.isFinite(fastestRefusalMs)
  if (!isRefusal(code) && !lostSyn) return UNREACHABLE_RETRY_MS * (1 + random)
  const roundTripMs = Math.min(failureRoundTripMs, fastestRefusalMs)
  const spread = Math.max(JITTER_FLOOR_MS, JITTER_ROUND_TRIPS * roundTripMs)
  const gap = elapsedMs < FAST_PHASE_MS ? MIN_RETRY_GAP_MS : SLOW_RETRY_GAP_MS
  return gap + random * spread
}

/**
 * Milliseconds to wait when the address's SYN budget (./dial-budget.ts) says
 * no for `tokenWaitMs` more: that wait, plus a random part of one token
 * period. Both sides of a punch spend their bursts alike and then dial at the
 * budget's steady rate; waiting exactly for each token would put both on the
 * same fixed period at a fixed offset, the very thing the retry jitter is
 * there to avoid, and an offset outside the window never meets (the lab saw
 * a side dial 400 times into the other's resets this way, until the relay
 * took over). A fresh offset each time lets the two meet at the steady rate.
 */
export function limitedRetryDelayMs (tokenWaitMs: number, random: number): number {
  return tokenWaitMs + random * 1000 / REMOTE_SYNS_PER_SECOND
}

/**
 * EADDRNOTAVAIL from connect() on the punch port means this address pair
 * already carries a connection (the peer's SYN got in first and was
 * accepted): wait for that one, and dial again only after a dial's patience
 * (dialTimeoutMs), should it die half-open.
 */
export function meansAlreadyConnected (code: string): boolean {
  return code === 'EADDRNOTAVAIL'
}
