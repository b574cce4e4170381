// apply's check of a sealed map against the plan (src/kernel/apply.ts checkHeld, compared by the
// shim): it needs no BPF, so it is tested here on batches; the rest of apply needs a kernel (test/kernel).
import { expect, test } from "bun:test";
import { FileFlag, FileRule, InodeKey } from "../../src/abi.ts";
import { checkHeld, checkTreesHeld, entryTable } from "../../src/kernel/apply.ts";
import { loadShim } from "../../src/kernel/assets.ts";

const shim = await loadShim();

const entry = (ino: bigint, rule: number) => ({ key: InodeKey.encode({ ino, dev: 7 }), value: FileRule.encode({ rule_id: rule, mode: 0, guards: 3 }) });
const batch = (entries: { key: Uint8Array; value: Uint8Array }[]) => ({
  keys: Uint8Array.from(entries.flatMap((e) => [...e.key])),
  values: Uint8Array.from(entries.flatMap((e) => [...e.value])),
  count: entries.length,
});
const plan = [entry(1n, 0), entry(2n, 1), entry(0x100n, 2)];

test("a map holding the plan, in any order, passes", () => {
  expect(() => checkHeld(shim, "files", batch(plan), batch([plan[2]!, plan[0]!, plan[1]!]))).not.toThrow();
  expect(() => checkHeld(shim, "files", batch([]), batch([]))).not.toThrow();
});

test("an entry with another value, or one not planned, is refused", () => {
  expect(() => checkHeld(shim, "files", batch(plan), batch([plan[0]!, plan[1]!, entry(0x100n, 9)]))).toThrow("holds an entry the policy does not");
  expect(() => checkHeld(shim, "files", batch(plan), batch([plan[0]!, plan[1]!, entry(3n, 2)]))).toThrow("holds an entry the policy does not");
  expect(() => checkHeld(shim, "files", batch(plan), batch([...plan, entry(3n, 3)]))).toThrow("holds an entry the policy does not");
  expect(() => checkHeld(shim, "files", batch([]), batch([entry(3n, 3)]))).toThrow("holds an entry the policy does not");
});

test("a map missing an entry is refused", () => {
  expect(() => checkHeld(shim, "files", batch(plan), batch(plan.slice(0, 2)))).toThrow("lost entries");
  expect(() => checkHeld(shim, "files", batch(plan), batch([]))).toThrow("lost entries");
});

test("thousands of entries: each one found in the plan, whatever the order", () => {
  const many = Array.from({ length: 5000 }, (_, i) => entry(BigInt(i * 7919 + 1), i));
  const shuffled = [...many].sort((a, b) => Buffer.compare(Buffer.from(a.value), Buffer.from(b.value)) || Buffer.compare(Buffer.from(b.key), Buffer.from(a.key)));
  expect(() => checkHeld(shim, "files", batch(many), batch(shuffled.reverse()))).not.toThrow();
  const changed = [...many];
  changed[4321] = entry(BigInt(4321 * 7919 + 1), 1);
  expect(() => checkHeld(shim, "files", batch(many), batch(changed))).toThrow("holds an entry the policy does not");
});

// With protected directories the kernel labels what appears below them while the generation is
// built, and drops entries whose files are gone: checkTreesHeld expects that, and only that.
test("below directories: kernel labels and removed files pass; anything else is refused", () => {
  const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
  const label = (ino: bigint, rule: number, flags: number) => ({ key: InodeKey.encode({ ino, dev: 7 }), value: FileRule.encode({ rule_id: rule, mode: 0, guards: 3, flags }) });
  const TREE = FileFlag.TREE;
  const root = label(10n, 0, FileFlag.TREE | FileFlag.ROOT);
  const child = label(11n, 0, TREE);
  const other = label(20n, 1, FileFlag.TREE | FileFlag.ROOT);
  const file = label(30n, 2, 0);
  const planned = entryTable("files", batch([root, child, other, file]));
  const children = new Set([text(label(0n, 0, TREE).value), text(label(0n, 1, TREE).value)]);
  // a new entry labelled by the kernel; the planned child removed with its file
  expect(() => checkTreesHeld(planned, children, batch([root, other, file, label(12n, 0, TREE)]))).not.toThrow();
  // the planned child moved to the other directory: relabelled there
  expect(() => checkTreesHeld(planned, children, batch([root, other, file, label(11n, 1, TREE)]))).not.toThrow();
  // a label no directory gives, a rule's own directory or a file rule gone: refused
  expect(() => checkTreesHeld(planned, children, batch([root, child, other, file, label(13n, 5, TREE)]))).toThrow("holds an entry the policy does not");
  expect(() => checkTreesHeld(planned, children, batch([root, child, other, file, label(14n, 0, 0)]))).toThrow("holds an entry the policy does not");
  expect(() => checkTreesHeld(planned, children, batch([child, other, file]))).toThrow("lost entries");
  expect(() => checkTreesHeld(planned, children, batch([root, child, other]))).toThrow("lost entries");
  // a planned file rule turned into a label: refused
  expect(() => checkTreesHeld(planned, children, batch([root, child, other, label(30n, 0, TREE)]))).toThrow("holds an entry the policy does not");
});
