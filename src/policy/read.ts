// Stage 0: the policy's bytes, read bounded. A policy is a regular file (or standard input, "-")
// of at most MAX_POLICY_BYTES: a FIFO, a device or a directory is refused before anything is
// read, and no more than the limit plus one byte is ever read, so "/dev/zero" or a runaway
// generator on standard input is refused in constant memory.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { MAX_POLICY_BYTES } from "./decode.ts";

export class ReadError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** How `-` is named in diagnostics. */
export const STDIN_NAME = "<stdin>";

const MIB = 1024 * 1024;

/** The bytes of the policy at `file` ("-": standard input). Throws ReadError. */
export function readPolicyBytes(file: string, limit = MAX_POLICY_BYTES): Uint8Array {
  if (file === "-") return readBounded(0, STDIN_NAME, limit, undefined);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "ENOTDIR" ? "a component of the path is not a directory" : String(code ?? e);
    throw new ReadError(`Cannot read policy ${JSON.stringify(file)}: ${why}`, code === "EACCES" ? "check the file's permissions" : "check the path");
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new ReadError(`Cannot read policy ${JSON.stringify(file)}: it is ${kindOf(st)}, not a regular file`, 'give the path of a policy file, or "-" to read standard input');
    if (st.size > limit) throw tooLarge(file, `${st.size} bytes`, limit);
    return readBounded(fd, file, limit, st.size);
  } finally {
    closeSync(fd);
  }
}

function readBounded(fd: number, file: string, limit: number, expected: number | undefined): Uint8Array {
  let buf = Buffer.allocUnsafe(Math.min(limit + 1, (expected ?? 64 * 1024) + 1));
  let used = 0;
  for (;;) {
    if (used === buf.length) {
      if (used > limit) throw tooLarge(file, `more than ${limit} bytes`, limit);
      const bigger = Buffer.allocUnsafe(Math.min(limit + 1, buf.length * 2));
      buf.copy(bigger, 0, 0, used);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, used, buf.length - used, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1); // standard input opened non-blocking by whoever started us
        continue;
      }
      if (code === "EISDIR") throw new ReadError(`Cannot read policy ${JSON.stringify(file)}: it is a directory, not a regular file`, 'give the path of a policy file, or "-" to read standard input');
      throw new ReadError(`Cannot read policy ${JSON.stringify(file)}: ${String(code ?? e)}`, "check the file");
    }
    if (n === 0) break;
    used += n;
  }
  if (used > limit) throw tooLarge(file, `more than ${limit} bytes`, limit);
  return new Uint8Array(buf.buffer, buf.byteOffset, used);
}

function tooLarge(file: string, size: string, limit: number): ReadError {
  return new ReadError(
    `Policy ${JSON.stringify(file)} is too large (${size})`,
    `the limit is ${limit} bytes (${limit / MIB} MiB), room for more rules than the kernel holds; is this really a policy?`,
  );
}

/** What a file that is not a regular file is, for messages: "a directory", "a FIFO"... */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}
