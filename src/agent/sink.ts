// Where the agent's events go (agent.events.output): stdout, stderr, or a file the agent appends to.
// A file survives log rotation: when the path no longer names the file the agent has open (renamed
// away, removed), the agent opens the path anew, creating it, and goes on there. Writing never
// throws: a sink that breaks says so once and the agent goes on enforcing.
import { closeSync, fstatSync, openSync, statSync, writeSync } from "node:fs";

export interface Sink {
  write(text: string): void;
  /** Called about once a second: notice a rotated file. */
  check(): void;
  close(): void;
}

/** stdout or stderr: a closed reader (EPIPE) stops the events, never the agent. */
export function streamSink(stream: NodeJS.WriteStream, onBroken: (why: string) => void): Sink {
  let broken = false;
  const breaks = (e: unknown) => {
    if (broken) return;
    broken = true;
    onBroken((e as NodeJS.ErrnoException)?.code ?? String(e));
  };
  stream.on("error", breaks);
  return {
    write(text) {
      if (broken) return;
      try {
        stream.write(text);
      } catch (e) {
        breaks(e);
      }
    },
    check() {},
    close() {},
  };
}

/** An absolute path, appended to; reopened when rotation moved the file away. */
export function fileSink(path: string, onProblem: (why: string) => void): Sink {
  let fd: number | null = null;
  let ino = 0n;
  let failing = false;
  const open = () => {
    try {
      fd = openSync(path, "a", 0o600);
      ino = fstatSync(fd, { bigint: true }).ino;
      failing = false;
    } catch (e) {
      fd = null;
      if (!failing) onProblem(`cannot open "${path}" for events (${(e as NodeJS.ErrnoException).code ?? e}); retrying every second`);
      failing = true;
    }
  };
  const reopenIfRotated = () => {
    let current: bigint | null = null;
    try {
      current = statSync(path, { bigint: true }).ino;
    } catch {
      current = null; // removed or renamed away: a new file is created
    }
    if (fd !== null && current === ino) return;
    if (fd !== null) closeSync(fd);
    open();
  };
  open();
  return {
    write(text) {
      if (fd === null) return;
      try {
        const bytes = Buffer.from(text);
        for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      } catch (e) {
        onProblem(`cannot write events to "${path}" (${(e as NodeJS.ErrnoException).code ?? e}); reopening it`);
        closeSync(fd);
        fd = null;
      }
    },
    check: reopenIfRotated,
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}
