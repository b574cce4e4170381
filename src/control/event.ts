// A control request as one JSON event line, in the style of the kernel's events (src/events.ts):
// "kind" says what sort of event, "op" what was attempted, then who attempted it.
import type { ControlEvent } from "./socket.ts";

export interface ControlEventLine {
  time: string;
  kind: "control";
  /** What was asked for: "shutdown" or "reload"; "unknown" for a request that could not be read. */
  op: "shutdown" | "reload" | "unknown";
  /** The step: asking for a challenge, submitting a response, or an unreadable request. */
  request: ControlEvent["op"];
  outcome: ControlEvent["outcome"];
  reason?: string;
  message?: string;
  /** The signer's name under agent.keys, when the running policy lists it. */
  key?: string;
  fingerprint?: string;
  challenge?: string;
  pid: number;
  uid: number;
  exe: string;
}

export function controlEventLine(e: ControlEvent, now: Date = new Date()): ControlEventLine {
  return {
    time: now.toISOString(),
    kind: "control",
    op: e.action ?? "unknown",
    request: e.op,
    outcome: e.outcome,
    ...(e.reason === undefined ? {} : { reason: e.reason }),
    ...(e.message === undefined ? {} : { message: e.message }),
    ...(e.key?.name === undefined ? {} : { key: e.key.name }),
    ...(e.key === undefined ? {} : { fingerprint: e.key.fingerprint }),
    ...(e.challenge === undefined ? {} : { challenge: e.challenge }),
    pid: e.peer.pid,
    uid: e.peer.uid,
    exe: e.peer.exe ?? "",
  };
}
