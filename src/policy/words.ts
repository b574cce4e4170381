// Words of the policy language that the control commands (shutdown, reload, sign, keygen) need
// without the checker: they import this, not schema.ts (TypeBox) or semantic.ts, so a requester
// starts without loading the policy checker.

/** What a key listed under agent.keys may be allowed to request. */
export const KEY_OPERATIONS = ["shutdown", "reload"] as const;

/** A name of an executable, a destination or a key. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const NAME_HINT = 'a name has up to 64 letters, digits, ".", "_" or "-", and starts with a letter or digit';
