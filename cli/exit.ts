// How every punchline command ends: its exit codes, and the usage error that
// makes it exit 2.

/** Exit codes of every punchline command. */
export const EXIT = {
  /** Clean end: the connection closed, or a long-running command was stopped by SIGINT/SIGTERM. */
  OK: 0,
  /** A failure: punch, rendezvous server, connection, or the server itself. */
  FAILURE: 1,
  /** Bad usage: unknown option, missing or malformed value. */
  USAGE: 2,
  /** `punchline peer` interrupted (SIGINT/SIGTERM) before the connection ended. */
  INTERRUPTED: 130
} as const

/** The command was called wrongly: the message names the option. */
export class UsageError extends Error {}

/** Errors that are the caller's doing (exit 2), as opposed to failures (exit 1). */
export function isUsageError (error: unknown): boolean {
  const code = (error as { code?: unknown }).code
  return error instanceof UsageError || code === 'PUNCH_ERR_CONFIG' || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
}
