// Exit codes of every command, stable and documented in the README. A code may carry two names
// where one number has two readings: 1 is a policy or request that is refused, 3 an agent that
// cannot enforce or cannot be reached.
export const EXIT = {
  OK: 0,
  INVALID_POLICY: 1,
  REFUSED: 1,
  USAGE: 2,
  CANNOT_ENFORCE: 3,
  NO_AGENT: 3,
  BUG: 70,
} as const;
