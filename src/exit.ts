// Exit codes and the error every command throws for an expected failure (printed as message + hint).

export const EXIT = { OK: 0, INVALID_POLICY: 1, USAGE: 2, CANNOT_ENFORCE: 3, AGENT_RUNNING: 4, BUG: 70 } as const;

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
