// apply's check of a sealed map against the plan (src/kernel/apply.ts checkHeld): pure, so it is
// tested here on batches; the rest of apply needs a kernel (test/kernel).
import { expect, test } from "bun:test";
import { FileRule, InodeKey } from "../../src/abi.ts";
import { checkHeld, entryTable } from "../../src/kernel/apply.ts";

const entry = (ino: bigint, rule: number) => ({ key: InodeKey.encode({ ino, dev: 7 }), value: FileRule.encode({ rule_id: rule, mode: 0, guards: 3 }) });
const batch = (entries: { key: Uint8Array; value: Uint8Array }[]) => ({
  keys: Uint8Array.from(entries.flatMap((e) => [...e.key])),
  values: Uint8Array.from(entries.flatMap((e) => [...e.value])),
  count: entries.length,
});
const plan = [entry(1n, 0), entry(2n, 1), entry(0x100n, 2)];

test("a map holding the plan, in any order, passes", () => {
  const planned = entryTable("files", batch(plan));
  expect(planned.size).toBe(3);
  expect(() => checkHeld("files", planned, batch([plan[2]!, plan[0]!, plan[1]!]))).not.toThrow();
});

test("an entry with another value, or one not planned, is refused", () => {
  const planned = entryTable("files", batch(plan));
  expect(() => checkHeld("files", planned, batch([plan[0]!, plan[1]!, entry(0x100n, 9)]))).toThrow("holds an entry the policy does not");
  expect(() => checkHeld("files", planned, batch([...plan, entry(3n, 3)]))).toThrow("holds an entry the policy does not");
});

test("a map missing an entry is refused", () => {
  const planned = entryTable("files", batch(plan));
  expect(() => checkHeld("files", planned, batch(plan.slice(0, 2)))).toThrow("lost entries");
});
