// Kernel events -> JSON lines. One object per line, stable keys, for people and for jq.
import { Access, Event, EventKind, Op, RULE_BUILTIN, Verdict } from "./abi.ts";
import type { RuleInfo } from "./compile/compile.ts";

export interface EventLine {
  time: string;
  /** The policy's own words: "deny" (enforce mode, refused) or "monitor" (monitor mode, let through). */
  action: "deny" | "monitor";
  kind: "file" | "identity";
  op: OpName;
  pid: number;
  tid: number;
  uid: number;
  comm: string;
  exe: string;
  target: string;
  access: string[];
  rule: string;
}

export type OpName = "open" | "setattr" | "unlink" | "rename" | "receive" | "set_exe_file" | "unknown";
const OP_NAMES: Record<number, OpName> = {
  [Op.OPEN]: "open",
  [Op.SETATTR]: "setattr",
  [Op.UNLINK]: "unlink",
  [Op.RENAME]: "rename",
  [Op.RECEIVE]: "receive",
  [Op.SET_EXE]: "set_exe_file",
};

function accessNames(bits: number): string[] {
  const out: string[] = [];
  if (bits & Access.READ) out.push("read");
  if (bits & Access.WRITE) out.push("write");
  return out;
}

/**
 * Decode one ring-buffer record. wallOffsetNs converts the kernel's boot clock to Unix
 * time (Date.now() in ns minus CLOCK_BOOTTIME, sampled at start).
 */
export function decodeEvent(record: Uint8Array, rules: readonly RuleInfo[], wallOffsetNs: bigint): EventLine | null {
  const e = Event.decode(record);
  if (e.kind !== EventKind.FILE && e.kind !== EventKind.IDENTITY) return null;
  const rule = e.rule_id === RULE_BUILTIN ? undefined : rules[e.rule_id];
  const ms = Number((e.boot_ns + wallOffsetNs) / 1_000_000n);
  return {
    time: new Date(ms).toISOString(),
    action: e.verdict === Verdict.AUDIT ? "monitor" : "deny", // the kernel's BF_VERDICT_AUDIT
    kind: e.kind === EventKind.IDENTITY ? "identity" : "file",
    op: OP_NAMES[e.op] ?? "unknown",
    pid: e.pid,
    tid: e.tid,
    uid: e.uid,
    comm: e.comm,
    exe: e.exe,
    // Hooks that see only a dentry send no path: the rule's path names the file then.
    target: e.target || (rule?.path ?? ""),
    access: accessNames(e.access),
    rule:
      e.rule_id === RULE_BUILTIN
        ? "builtin: executable identity"
        : rule
          ? `${rule.origin.file}:${rule.origin.line}`
          : `unknown rule ${e.rule_id}`,
  };
}
