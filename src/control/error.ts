// An expected failure of a control command or of the control socket: what failed and why, a hint,
// and the exit code the command ends with.
import { EXIT } from "../exit.ts";

export class ControlError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exit: number = EXIT.REFUSED,
  ) {
    super(message);
  }
}
