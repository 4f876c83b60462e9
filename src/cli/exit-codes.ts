/**
 * Exit codes of the `mulligan` command, a contract for scripts: each names a class of outcome
 * that a script can act on (retry, create, give up), whatever the command.
 */

export const EXIT = {
  OK: 0,
  /** INTERNAL, UNKNOWN and any other unexpected failure. */
  INTERNAL: 1,
  /** Bad flags or arguments, detected before any call. */
  USAGE: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 4,
  ALREADY_EXISTS: 5,
  /** UNAUTHENTICATED or PERMISSION_DENIED: log in again or ask for a role. */
  DENIED: 6,
  /** FAILED_PRECONDITION or ABORTED: the state does not allow it (now). */
  PRECONDITION: 7,
  RESOURCE_EXHAUSTED: 8,
  /** UNAVAILABLE or DEADLINE_EXCEEDED: the server could not be reached or did not answer. */
  UNAVAILABLE: 9,
} as const;

const byCode: Record<string, number> = {
  INVALID_ARGUMENT: EXIT.INVALID_ARGUMENT,
  OUT_OF_RANGE: EXIT.INVALID_ARGUMENT,
  NOT_FOUND: EXIT.NOT_FOUND,
  ALREADY_EXISTS: EXIT.ALREADY_EXISTS,
  UNAUTHENTICATED: EXIT.DENIED,
  PERMISSION_DENIED: EXIT.DENIED,
  FAILED_PRECONDITION: EXIT.PRECONDITION,
  ABORTED: EXIT.PRECONDITION,
  RESOURCE_EXHAUSTED: EXIT.RESOURCE_EXHAUSTED,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  DEADLINE_EXCEEDED: EXIT.UNAVAILABLE,
};

/** The exit code for a failed call with the given canonical code name ("NOT_FOUND"). */
export function exitCodeFor(code: string): number {
  return byCode[code] ?? EXIT.INTERNAL;
}

/** The table printed at the end of `mulligan --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  internal or unknown error
  2  usage error (bad flags or arguments)
  3  INVALID_ARGUMENT, OUT_OF_RANGE
  4  NOT_FOUND
  5  ALREADY_EXISTS
  6  UNAUTHENTICATED, PERMISSION_DENIED
  7  FAILED_PRECONDITION, ABORTED
  8  RESOURCE_EXHAUSTED
  9  UNAVAILABLE, DEADLINE_EXCEEDED (server unreachable or too slow)

Errors are printed on stderr as one line: error: <CODE> <REASON> [(field <f>)]: <message>`;

/**
 * A mistake in the command line found by Mulligan's own checks (an unknown enum value, a
 * malformed KEY=VALUE): exit code 2, like commander's own usage errors, and no call is made.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
