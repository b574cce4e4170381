// The maps apply keeps from one generation to the next (src/kernel/sealed.ts): only maps no BPF
// program adds to, only with the same entries, and each closed once no slot holds it.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MAPS, type MapName } from "../../src/abi.ts";
import { READ_ONLY_MAPS, SealedMaps, SHRINKING_MAPS } from "../../src/kernel/sealed.ts";
import type { BpfMap } from "../../ffi/shim.ts";

const bpf = join(import.meta.dir, "../../bpf");

test("READ_ONLY_MAPS and SHRINKING_MAPS are what bpf/ does with each generation map", () => {
  // Outer maps whose inner maps a program adds to (update) or removes from (delete).
  const written = { update: new Set<string>(), delete: new Set<string>() };
  for (const f of readdirSync(bpf).filter((f) => f.endsWith(".h") || f.endsWith(".c"))) {
    const text = readFileSync(join(bpf, f), "utf8");
    // Pointers to a slot's inner map: `void *files = bf_policy_map(&bf_files_gen_v2, slot);`.
    const inner = new Map<string, Set<string>>();
    for (const m of text.matchAll(/(\w+)\s*=\s*(?:bf_policy_map|bpf_map_lookup_elem)\(\s*&(bf_\w+_gen_v\d+)/g)) {
      if (!inner.has(m[1]!)) inner.set(m[1]!, new Set());
      inner.get(m[1]!)!.add(m[2]!);
    }
    for (const m of text.matchAll(/bpf_map_(update|delete)_elem\(\s*(&?)([\w>.-]+)/g)) {
      if (m[2] === "&") {
        expect(m[3]!).not.toMatch(/_gen_v\d+$/); // an outer map itself: only the agent writes those
        continue;
      }
      const outers = inner.get(m[3]!);
      // A map written through a pointer this test cannot trace: look at it, then teach the test.
      expect([f, m[3], outers?.size ?? 0]).not.toEqual([f, m[3], 0]);
      for (const o of outers!) written[m[1] as "update" | "delete"].add(o);
    }
  }
  const kinds = (outers: Set<string>) => (Object.keys(MAPS) as MapName[]).filter((k) => outers.has(MAPS[k].outer)).sort();
  expect(kinds(written.update)).toEqual(["files"]);
  expect(kinds(written.delete)).toEqual(["exes", "files"]);
  const untouched = (Object.keys(MAPS) as MapName[]).filter((k) => !written.update.has(MAPS[k].outer) && !written.delete.has(MAPS[k].outer));
  expect([...READ_ONLY_MAPS].sort()).toEqual(untouched.sort());
  expect([...SHRINKING_MAPS].sort()).toEqual(kinds(written.delete).filter((k) => !written.update.has(MAPS[k].outer)));
});

/** A stand-in for a map: counts its closes. */
function fakeMap(name: string): BpfMap & { closes: number } {
  const m = { name, closes: 0, close() { m.closes++; } };
  return m as unknown as BpfMap & { closes: number };
}
const entries = (...bytes: number[]) => ({ keys: new Uint8Array(bytes), values: new Uint8Array(bytes.map((b) => b + 1)), count: bytes.length });

test("a map is found only with the same entries, byte for byte, in the slot asked", () => {
  const sealed = new SealedMaps();
  const a = fakeMap("a");
  sealed.put(0, "dests", { map: a, entries: entries(1, 2) });
  expect(sealed.holding(0, "dests", entries(1, 2))?.map).toBe(a);
  expect(sealed.holding(0, "dests", entries(1, 3))).toBeUndefined();
  expect(sealed.holding(0, "dests", entries(1))).toBeUndefined();
  expect(sealed.holding(1, "dests", entries(1, 2))).toBeUndefined();
  expect(sealed.holding(0, "ports", entries(1, 2))).toBeUndefined();
  expect(() => sealed.put(0, "files", { map: a, entries: entries() })).toThrow(/BPF programs add to the files map/);
});

test("a map is closed once no slot holds it, and not before", () => {
  const sealed = new SealedMaps();
  const [a, b, c] = [fakeMap("a"), fakeMap("b"), fakeMap("c")];
  sealed.put(0, "grants", { map: a, entries: entries(1) });
  sealed.put(1, "grants", { map: a, entries: entries(1) }); // kept: both slots hold it
  expect(sealed.holds(1, "grants", a)).toBe(true);
  sealed.put(0, "grants", { map: b, entries: entries(2) });
  expect(a.closes).toBe(0); // slot 1 still holds it
  expect(sealed.kept(a)).toBe(true);
  sealed.put(1, "grants", { map: c, entries: entries(3) });
  expect(a.closes).toBe(1);
  expect(sealed.kept(a)).toBe(false);
  sealed.close();
  expect([a.closes, b.closes, c.closes]).toEqual([1, 1, 1]);
  expect(sealed.holding(0, "grants", entries(2))).toBeUndefined();
});
