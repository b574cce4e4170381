// The agent's control socket: a Unix stream socket at a fixed path in a directory only the agent's
// user may enter. Never a network port.
//
// The server never blocks: every descriptor is non-blocking and the agent's loop calls poll()
// (every 250 ms when idle, or at once when a connection waits; every 10 ms during and just after
// a request: src/agent/serve.ts), which accepts, reads, answers and closes what is ready and returns. Each
// requester's uid, pid and executable come from the kernel (SO_PEERCRED, /proc/PID/exe) and go
// into every event. Requests are one JSON line each (see protocol.ts); the decisions after a
// verified signature belong to the ControlHandler the agent supplies.

import { chmodSync, lstatSync, mkdirSync, readlinkSync, statSync, unlinkSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { acceptUnix, closeFd, EAGAIN, listenUnix, peerCredentials, probeUnix, receive, sendSome, SocketError } from "../../ffi/socket.ts";
import { EXIT } from "../exit.ts";
import { ControlError } from "./error.ts";
import { challengeId, MAX_REQUEST_BYTES, parseRequest, type Action, type Challenges, type KeyInfo, type ParsedRequest, type Reply } from "./protocol.ts";

import { SOCKET_DIR, SOCKET_PATH } from "./paths.ts";
export { SOCKET_DIR, SOCKET_PATH };
/** What a reloaded policy is called in diagnostics when the requester gave no file name. */
export const RELOAD_NAME = "reload.yaml";

/** Who is on the other end of a connection, as the kernel saw it when they connected. */
export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  /** /proc/PID/exe when the server accepted the connection; null if it could not be read. */
  exe: string | null;
}

/** What the agent did with a verified request. */
export type HandlerResult =
  | {
      ok: true;
      message: string;
      /** Runs once the reply has been written (or the requester has gone): e.g. stop enforcing. */
      after?: () => void;
    }
  | { ok: false; reason: string; message: string; hint?: string; diagnostics?: string };

/**
 * The agent's side of a signed request, called only after the signature, the key's allow list,
 * the binding to this host and run, and (for reload) the policy's SHA-256 have been verified.
 * Calls never overlap: the next starts after the previous one's promise settles.
 */
export interface ControlHandler {
  shutdown(key: KeyInfo, peer: Peer): Promise<HandlerResult>;
  /**
   * policy: the exact bytes the signer signed; check and compile them before changing anything.
   * name: the file name the requester gave, for diagnostics only (not signed; RELOAD_NAME if none).
   * sha256: the policy's SHA-256 (hex), as the verification computed it (hashing 1 MB again cost a
   * reload 0.04 s in the bench's VM).
   */
  reload(policy: Uint8Array, key: KeyInfo, peer: Peer, name: string, sha256: string): Promise<HandlerResult>;
}

/** One request and what became of it, for the agent's event log. */
export interface ControlEvent {
  /** "invalid": the request could not be read (too large, too slow, not JSON). */
  op: "challenge" | "submit" | "invalid";
  action?: Action;
  /** issued: a challenge; accepted: the handler did it; failed: verified, but the handler refused. */
  outcome: "issued" | "accepted" | "refused" | "failed";
  reason?: string;
  message?: string;
  /** The signer: its name when the running policy lists it, and its fingerprint. */
  key?: { name?: string; fingerprint: string };
  /** The first 6 bytes of the challenge's nonce, in hex: ties a submit to its challenge. */
  challenge?: string;
  peer: Peer;
}

export interface ServerLimits {
  /** Open connections at once; more wait in the kernel's listen queue (see acceptSome). */
  maxConnections: number;
  maxRequestBytes: number;
  /** From accept to the request's end of line; a slow or silent client is then cut off. */
  requestDeadlineMs: number;
  /** To write the reply once it is ready. */
  replyDeadlineMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 8,
  maxRequestBytes: MAX_REQUEST_BYTES,
  requestDeadlineMs: 5_000,
  replyDeadlineMs: 5_000,
};

export interface ServerOptions {
  /** Default SOCKET_PATH. Its directory is created 0700 if missing. */
  path?: string;
  challenges: Challenges;
  handler: ControlHandler;
  onRequest?: (event: ControlEvent) => void;
  limits?: Partial<ServerLimits>;
  /** Milliseconds, for deadlines; tests inject one. */
  clock?: () => number;
}

interface Conn {
  fd: number;
  peer: Peer;
  state: "reading" | "waiting" | "writing" | "closed";
  input: Buffer[];
  inputBytes: number;
  deadline: number;
  output: Buffer;
  after?: () => void;
}

/** Connections the kernel queues for the agent before connect() fails with EAGAIN. */
const BACKLOG = 16;
/** At most this many connections are accepted per poll, so one poll's work stays bounded. */
const ACCEPTS_PER_POLL = 16;
const READ_CHUNK = 64 * 1024;
const q = (s: string) => JSON.stringify(s);

export class ControlServer {
  private readonly conns = new Set<Conn>();
  private readonly scratch = Buffer.alloc(READ_CHUNK);
  private readonly limits: ServerLimits;
  private readonly clock: () => number;
  private queue: Promise<void> = Promise.resolve();
  /** An exception from onRequest or after() inside a queued submit, thrown by the next poll(). */
  private failure: { error: unknown } | undefined;
  private closed = false;
  private acceptedCount = 0;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly inode: Stats,
    private readonly opts: ServerOptions,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Create the directory if needed, check it, replace a stale socket, bind and listen. */
  static listen(opts: ServerOptions): ControlServer {
    const path = opts.path ?? SOCKET_PATH;
    prepareDirectory(dirname(path));
    removeStaleSocket(path);
    let fd: number;
    try {
      fd = listenUnix(path, BACKLOG);
    } catch (e) {
      if (e instanceof SocketError || e instanceof RangeError) throw new ControlError(`Cannot open the control socket ${q(path)}: ${e.message}`, undefined, EXIT.CANNOT_ENFORCE);
      throw e;
    }
    chmodSync(path, 0o600);
    return new ControlServer(path, fd, statSync(path), opts);
  }

  /** The listening descriptor: readable when a connection waits to be accepted (the agent's waker watches it). */
  get listening(): number {
    return this.fd;
  }

  /** Open connections (for tests and for the agent's status). */
  get connections(): number {
    return this.conns.size;
  }

  /**
   * Whether a request is partly received: its sender writes the rest at once, as fast as the agent
   * reads it (a reload's policy, up to megabytes, is many socket buffers), so the loop reads again
   * at once rather than at its next tick.
   */
  get receiving(): boolean {
    for (const c of this.conns) if (c.state === "reading" && c.inputBytes > 0) return true;
    return false;
  }

  /** Connections accepted since the socket opened (the agent's loop looks soon again after one). */
  get accepted(): number {
    return this.acceptedCount;
  }

  /**
   * Do whatever is ready, without waiting for anything. Call it from the agent's loop. Throws what
   * onRequest or a result's after() threw during a submit (a bug in the agent, not a refusal).
   */
  poll(): void {
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      throw error;
    }
    if (this.closed) return;
    this.acceptSome();
    const now = this.clock();
    for (const c of this.conns) {
      if (c.state === "reading") this.read(c);
      if (c.state === "writing") this.write(c);
      if ((c.state === "reading" || c.state === "writing") && now > c.deadline) {
        if (c.state === "reading") this.refuse(c, "invalid", { reason: "timeout", message: "Request not received in time", hint: "send the whole request at once" });
        this.finish(c);
      }
    }
  }

  /** Close every connection and the socket, and remove the socket file if it is still ours. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns) this.finish(c);
    closeFd(this.fd);
    try {
      const st = lstatSync(this.path);
      if (st.ino === this.inode.ino && st.dev === this.inode.dev) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  /**
   * Accept while fewer than maxConnections are open. Beyond that, connections wait in the kernel's
   * listen queue (BACKLOG) until a slot frees (a silent client holds one for requestDeadlineMs at
   * most); when that queue is full too, connect() fails at once (EAGAIN) and the client says the
   * agent is busy. Nothing grows in the agent's memory.
   */
  private acceptSome(): void {
    for (let i = 0; i < ACCEPTS_PER_POLL && this.conns.size < this.limits.maxConnections; i++) {
      const fd = acceptUnix(this.fd);
      if (fd === -EAGAIN) return;
      if (fd < 0) return; // ECONNABORTED, EMFILE...: try again at the next poll
      let peer: Peer;
      try {
        const cred = peerCredentials(fd);
        peer = { ...cred, exe: executableOf(cred.pid) };
      } catch {
        closeFd(fd);
        continue;
      }
      const c: Conn = { fd, peer, state: "reading", input: [], inputBytes: 0, deadline: this.clock() + this.limits.requestDeadlineMs, output: Buffer.alloc(0) };
      this.conns.add(c);
      this.acceptedCount++;
    }
  }

  private read(c: Conn): void {
    for (;;) {
      const n = receive(c.fd, this.scratch);
      if (n === -EAGAIN) return;
      if (n <= 0) {
        // End of stream (or an error) before a whole request: nothing to answer.
        if (c.inputBytes > 0) this.opts.onRequest?.({ op: "invalid", outcome: "refused", reason: "bad-request", message: "Request ended without an end of line", peer: c.peer });
        this.finish(c);
        return;
      }
      const chunk = this.scratch.subarray(0, n);
      const eol = chunk.indexOf(0x0a);
      const used = eol < 0 ? n : eol;
      if (c.inputBytes + used > this.limits.maxRequestBytes) {
        this.refuse(c, "invalid", { reason: "too-large", message: `Request is larger than ${this.limits.maxRequestBytes} bytes`, hint: "a reload policy may be at most 1 MiB" });
        return;
      }
      c.input.push(Buffer.from(chunk.subarray(0, used)));
      c.inputBytes += used;
      if (eol >= 0) {
        if (eol !== n - 1) this.refuse(c, "invalid", { reason: "bad-request", message: "One request per connection", hint: "send one JSON line, then read the reply" });
        else this.dispatch(c, Buffer.concat(c.input).toString("utf8"));
        c.input = [];
        return;
      }
    }
  }

  private dispatch(c: Conn, line: string): void {
    c.state = "waiting";
    const parsed = parseRequest(line);
    if (!parsed.ok) {
      if (parsed.reply.ok) throw new Error("unreachable");
      this.refuse(c, "invalid", parsed.reply);
      return;
    }
    const req = parsed.value;
    if (req.op === "challenge") {
      const r = this.opts.challenges.issue(req.action, req.policySha256);
      if (!r.ok) this.refuse(c, "challenge", r.refusal, { action: req.action });
      else {
        this.opts.onRequest?.({ op: "challenge", action: req.action, outcome: "issued", challenge: challengeId(r.challenge), peer: c.peer });
        this.reply(c, { ok: true, challenge: r.text });
      }
      return;
    }
    // Submits run one at a time, in arrival order: a reload is applied before the next is judged.
    this.queue = this.queue.then(() => this.submit(c, req)).catch((error) => void (this.failure ??= { error }));
  }

  private async submit(c: Conn, req: Extract<ParsedRequest, { op: "submit" }>): Promise<void> {
    const v = this.opts.challenges.verify(req.response, req.policy ? { action: req.action, policy: req.policy } : { action: req.action });
    if (!v.ok) {
      this.refuse(c, "submit", v.refusal, { action: req.action, ...(v.key ? { key: v.key } : {}) });
      return;
    }
    const base = { op: "submit" as const, action: v.action, key: v.key, challenge: challengeId(v.challenge), peer: c.peer };
    let result: HandlerResult;
    try {
      result = v.action === "shutdown" ? await this.opts.handler.shutdown(v.key, c.peer) : await this.opts.handler.reload(req.policy!, v.key, c.peer, req.policyName ?? RELOAD_NAME, Buffer.from(v.challenge.policySha256!).toString("hex"));
    } catch (e) {
      result = { ok: false, reason: "internal-error", message: `The agent failed to ${v.action}: ${e instanceof Error ? e.message : String(e)}`, hint: "this is a bug: the agent goes on enforcing; see its log" };
    }
    if (result.ok) {
      this.opts.onRequest?.({ ...base, outcome: "accepted", message: result.message });
      if (result.after) c.after = result.after;
      this.reply(c, { ok: true, message: result.message });
    } else {
      const { ok: _, ...rest } = result;
      this.opts.onRequest?.({ ...base, outcome: "failed", reason: result.reason, message: result.message });
      this.reply(c, { ok: false, ...rest });
    }
  }

  private refuse(c: Conn, op: ControlEvent["op"], r: { reason: string; message: string; hint?: string; diagnostics?: string }, more: Partial<ControlEvent> = {}): void {
    this.opts.onRequest?.({ op, ...more, outcome: "refused", reason: r.reason, message: r.message, peer: c.peer });
    this.reply(c, { ok: false, ...r });
  }

  private reply(c: Conn, r: Reply): void {
    if (c.state === "closed") {
      c.after?.();
      return;
    }
    c.output = Buffer.from(JSON.stringify(r) + "\n");
    c.state = "writing";
    c.deadline = this.clock() + this.limits.replyDeadlineMs;
    this.write(c);
  }

  private write(c: Conn): void {
    while (c.output.length) {
      const n = sendSome(c.fd, c.output);
      if (n === -EAGAIN) return;
      if (n <= 0) break; // the requester has gone
      c.output = c.output.subarray(n);
    }
    this.finish(c);
  }

  private finish(c: Conn): void {
    if (c.state === "closed") return;
    const waiting = c.state === "waiting";
    c.state = "closed";
    closeFd(c.fd);
    this.conns.delete(c);
    // A submit being handled still runs to its end; its reply then goes nowhere and after() runs.
    if (!waiting) c.after?.();
  }
}

function executableOf(pid: number): string | null {
  if (pid <= 0) return null;
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** The socket's directory: created 0700, or an existing real directory of ours, made 0700. */
function prepareDirectory(dir: string): void {
  const refuse = (why: string, hint: string) => new ControlError(`Cannot use ${q(dir)} for the control socket: ${why}`, hint, EXIT.CANNOT_ENFORCE);
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw refuse(String((e as NodeJS.ErrnoException).code ?? e), "check the path");
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e2) {
      throw refuse(`cannot create it (${(e2 as NodeJS.ErrnoException).code ?? e2})`, "run the agent as root");
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw refuse("it is a symbolic link", `remove it; the agent creates ${q(dir)} itself`);
  if (!st.isDirectory()) throw refuse("it is not a directory", `remove it; the agent creates ${q(dir)} itself`);
  const uid = process.geteuid?.() ?? 0;
  if (st.uid !== uid) throw refuse(`it is owned by uid ${st.uid}, not by the agent's uid ${uid}`, `remove it, or give it to uid ${uid}; the agent creates ${q(dir)} itself`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** A socket file nobody listens on is left by an agent that died: remove it. Refuse anything else. */
function removeStaleSocket(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ControlError(`Cannot open the control socket ${q(path)}: a file that is not a socket is in the way`, "remove it", EXIT.CANNOT_ENFORCE);
  const probe = probeUnix(path);
  if (probe === "listening")
    throw new ControlError(`Another process is listening on the control socket ${q(path)}`, "is another agent running? stop it first (bomfather shutdown --sign KEY)", EXIT.CANNOT_ENFORCE);
  unlinkSync(path);
}
