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
