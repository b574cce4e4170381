// Kernel records to JSON lines: the words are the policy's ("deny", "monitor").
import { expect, test } from "bun:test";
import { Event, EventKind, Op, Verdict } from "../../src/abi.ts";
import type { RuleInfo } from "../../src/compile/compile.ts";
import { decodeEvent } from "../../src/events.ts";

const rules: RuleInfo[] = [{ id: 0, kind: "file", path: "/srv/secret.txt", origin: { file: "p.yaml", line: 7, col: 11 } }];
const record = (verdict: number) =>
  Event.encode({ kind: EventKind.FILE, op: Op.OPEN, verdict, rule_id: 0, pid: 7, tid: 7, comm: "cat", exe: "/bin/cat", target: "/srv/secret.txt" });

test("a rule in monitor mode reports the action \"monitor\", as the policy says it", () => {
  expect(decodeEvent(record(Verdict.AUDIT), rules, 0n)).toMatchObject({ action: "monitor", kind: "file", op: "open", rule: "p.yaml:7" });
});

test("an enforced rule reports \"deny\"", () => {
  expect(decodeEvent(record(Verdict.DENY), rules, 0n)).toMatchObject({ action: "deny", target: "/srv/secret.txt" });
});
