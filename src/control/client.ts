// The requester's side of the control socket: send one request, read one reply.
import { createConnection } from "node:net";
import { EXIT } from "../exit.ts";
import { ControlError } from "./error.ts";
import type { Reply, Request } from "./protocol.ts";
import { SOCKET_PATH } from "./paths.ts";

export interface ClientOptions {
  /** Default SOCKET_PATH. */
  path?: string;
  /** How long to wait for the reply. */
  timeoutMs?: number;
}

/** A challenge is answered at once; a reload may compile a large policy first. */
export const CHALLENGE_TIMEOUT_MS = 10_000;
export const SUBMIT_TIMEOUT_MS = 120_000;
/** A reply is a few hundred bytes, or a policy's diagnostics. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

const q = (s: string) => JSON.stringify(s);

function unreachable(path: string, code: string | undefined, detail: string): ControlError {
  switch (code) {
    case "ENOENT":
      return new ControlError(`No agent is running: the control socket ${q(path)} does not exist`, "start the agent with: bomfather run --policy FILE", EXIT.NO_AGENT);
    case "ECONNREFUSED":
      return new ControlError(`No agent is listening on ${q(path)}`, "the socket was left by an agent that stopped; start the agent with: bomfather run --policy FILE", EXIT.NO_AGENT);
    case "EAGAIN":
      return new ControlError(`The agent is busy: the queue of its control socket ${q(path)} is full`, "try again in a moment", EXIT.NO_AGENT);
    case "EACCES":
    case "EPERM":
      return new ControlError(`Permission denied opening the control socket ${q(path)}`, "run this command as root: only the agent's user may reach its socket", EXIT.NO_AGENT);
    default:
      return new ControlError(`Cannot reach the agent at ${q(path)}: ${detail}`, "is the agent running? check with: systemctl status bomfather", EXIT.NO_AGENT);
  }
}

function isReply(v: unknown): v is Reply {
  if (v === null || typeof v !== "object") return false;
  const r = v as Record<string, unknown>;
  return r.ok === true || (r.ok === false && typeof r.reason === "string" && typeof r.message === "string");
}

/** Send one request to the agent and return its reply; throws ControlError (exit 3) if it cannot. */
export function requestAgent(request: Request, opts: ClientOptions = {}): Promise<Reply> {
  const path = opts.path ?? SOCKET_PATH;
  const timeoutMs = opts.timeoutMs ?? CHALLENGE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    const timer = setTimeout(
      () => settle(() => reject(new ControlError(`The agent did not answer within ${Math.round(timeoutMs / 1000)} s`, "it may be busy applying a large policy; check its log", EXIT.NO_AGENT))),
      timeoutMs,
    );
    const sock = createConnection({ path });
    sock.on("connect", () => sock.write(JSON.stringify(request) + "\n"));
    sock.on("data", (data: Buffer) => {
      const eol = data.indexOf(0x0a);
      chunks.push(eol < 0 ? data : data.subarray(0, eol));
      size += data.length;
      if (eol < 0 && size <= MAX_REPLY_BYTES) return;
      settle(() => {
        let reply: unknown;
        try {
          reply = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          reply = undefined;
        }
        if (isReply(reply)) resolve(reply);
        else reject(new ControlError("The agent's reply is not one this bomfather reads", "use the bomfather binary of the same version as the agent", EXIT.NO_AGENT));
      });
    });
    // The agent may close while this side still writes (it refused a request too large): the
    // reply, already received, wins over the write's EPIPE or ECONNRESET.
    sock.on("error", (e: NodeJS.ErrnoException) => settle(() => reject(unreachable(path, e.code, e.message))));
    sock.on("close", () => settle(() => reject(new ControlError("The agent closed the connection without answering", "check the agent's log", EXIT.NO_AGENT))));
  });
}
