// Exit codes of every command, stable and documented in the README, and the error every command
// throws for an expected failure (printed as message + hint). A code may carry two names where one
// number has two readings: 1 is a policy or request that is refused, 3 an agent that cannot enforce
// or cannot be reached.
export const EXIT = {
  OK: 0,
  INVALID_POLICY: 1,
  REFUSED: 1,
  USAGE: 2,
  CANNOT_ENFORCE: 3,
  NO_AGENT: 3,
  AGENT_RUNNING: 4,
  BUG: 70,
} as const;

/** An expected failure: printed as message + hint, exits with code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}
