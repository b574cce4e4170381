// Kernel records to JSON lines: the words are the policy's ("deny", "monitor").
import { expect, test } from "bun:test";
import { Event, EventKind, Op, Verdict } from "../../src/abi.ts";
import { decodeEvent, type RuleLookup } from "../../src/events.ts";

const rules: RuleLookup = (generation, id) => (generation === 3 && id === 0 ? { path: "/srv/secret.txt", file: "p.yaml", line: 7 } : undefined);
const record = (verdict: number) =>
  Event.encode({ generation: 3, kind: EventKind.FILE, op: Op.OPEN, verdict, rule_id: 0, pid: 7, tid: 7, comm: "cat", exe: "/bin/cat", target: "/srv/secret.txt" });

test("a rule in monitor mode reports the action \"monitor\", as the policy says it", () => {
  expect(decodeEvent(record(Verdict.MONITOR), rules, 0n)).toMatchObject({ action: "monitor", kind: "file", op: "open", rule: "p.yaml:7" });
});

test("an enforced rule reports \"deny\"", () => {
  expect(decodeEvent(record(Verdict.DENY), rules, 0n)).toMatchObject({ action: "deny", target: "/srv/secret.txt" });
});

test("a rule of a generation the agent does not know is named by its number", () => {
  const other = Event.encode({ generation: 9, kind: EventKind.FILE, op: Op.OPEN, verdict: Verdict.DENY, rule_id: 4, pid: 7, tid: 7 });
  expect(decodeEvent(other, rules, 0n)).toMatchObject({ rule: "unknown rule 4 of policy generation 9", generation: 9 });
});

test("an attempt on the agent names the signal, the target and the built-in protection", () => {
  const e = Event.encode({ kind: EventKind.AGENT, op: Op.SIGNAL, verdict: Verdict.DENY, rule_id: 0x7fffffff, arg: 9, target_pid: 42, pid: 7, tid: 7, comm: "kill" });
  expect(decodeEvent(e, rules, 0n)).toMatchObject({ kind: "agent", op: "signal", detail: "SIGKILL", target: "pid 42", rule: "builtin: self-protection" });
});

const named: RuleLookup = (generation, id) =>
  generation === 3 ? [{ path: "/srv/secret.txt", file: "p.yaml", line: 7 }, { path: "/usr/local/bin/launcher", file: "p.yaml", line: 3 }][id] : undefined;

test("the identity judged: the named executable a process acted as, else its own program", () => {
  const inherited = Event.encode({ generation: 3, kind: EventKind.FILE, op: Op.OPEN, verdict: Verdict.DENY, rule_id: 0, identity: 2, pid: 7, tid: 7, exe: "/usr/bin/python3" });
  expect(decodeEvent(inherited, named, 0n)).toMatchObject({ exe: "/usr/bin/python3", identity: "/usr/local/bin/launcher" });
  const own = Event.encode({ generation: 3, kind: EventKind.FILE, op: Op.OPEN, verdict: Verdict.DENY, rule_id: 0, identity: 0, pid: 7, tid: 7, exe: "/usr/bin/python3" });
  expect(decodeEvent(own, named, 0n)).toMatchObject({ identity: "/usr/bin/python3" });
});

test("an xattr change, an ioctl and a digest mismatch say what was tried", () => {
  const xattr = Event.encode({ generation: 3, kind: EventKind.FILE, op: Op.XATTR, verdict: Verdict.DENY, rule_id: 0, access: 2, pid: 7, tid: 7 });
  expect(decodeEvent(xattr, named, 0n)).toMatchObject({ op: "xattr", access: ["write"], target: "/srv/secret.txt" });
  const ioctl = Event.encode({ generation: 3, kind: EventKind.FILE, op: Op.IOCTL, verdict: Verdict.DENY, rule_id: 0, arg: 0x40086602, pid: 7, tid: 7 });
  expect(decodeEvent(ioctl, named, 0n)).toMatchObject({ op: "ioctl", detail: "FS_IOC_SETFLAGS" });
  const digest = Event.encode({ generation: 3, kind: EventKind.IDENTITY, op: Op.DIGEST, verdict: Verdict.DENY, rule_id: 1, identity: 2, pid: 7, tid: 7 });
  expect(decodeEvent(digest, named, 0n)).toMatchObject({ kind: "identity", op: "digest_mismatch", rule: "p.yaml:3", target: "/usr/local/bin/launcher" });
});

test("a refused attempt on a protected program names the program's rule, the target and the mode", () => {
  const e = Event.encode({ generation: 3, kind: EventKind.RUNTIME, op: Op.PTRACE, verdict: Verdict.DENY, rule_id: 1, identity: 2, arg: 0x12, target_pid: 42, pid: 7, tid: 7, exe: "strike" });
  expect(decodeEvent(e, named, 0n)).toMatchObject({ kind: "runtime", op: "ptrace", rule: "p.yaml:3", target: "pid 42", identity: "/usr/local/bin/launcher", detail: "mode 0x12" });
  const traced = Event.encode({ generation: 3, kind: EventKind.RUNTIME, op: Op.TRACED_EXEC, verdict: Verdict.DENY, rule_id: 1, identity: 2, pid: 7, tid: 7 });
  expect(decodeEvent(traced, named, 0n)).toMatchObject({ kind: "runtime", op: "traced_exec", rule: "p.yaml:3" });
});

test("a refused fileless exec names its kind and the runtime.fileless line", () => {
  const rules: RuleLookup = (generation, id) => (generation === 3 && id === 0 ? { path: "runtime.fileless", file: "p.yaml", line: 22 } : undefined);
  const e = Event.encode({ generation: 3, kind: EventKind.RUNTIME, op: Op.FILELESS, verdict: Verdict.DENY, rule_id: 0, arg: 1, pid: 7, tid: 7, exe: "reach" });
  expect(decodeEvent(e, rules, 0n)).toMatchObject({ kind: "runtime", op: "fileless_exec", detail: "a memfd_create file", rule: "p.yaml:22" });
});
