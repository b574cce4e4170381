// A policy read after an edit from the reading of the text before it (src/policy/splice.ts) is
// exactly the policy read from scratch: the same value (keys in the same order), the same place for
// every value and key, the same count of values, the same diagnostics. The edits: every line of
// every policy of the corpus deleted, doubled, changed and moved, and the edits a reload of a large
// policy makes. The reading before stays as it was (frozen here: a write would throw).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_DEPTH, MAX_VALUES, parsePolicyText, SourceMap } from "../../src/policy/parse.ts";
import { readAfterEdit } from "../../src/policy/splice.ts";
import { checkPolicy } from "../../src/policy/index.ts";
import { compileInputOf } from "../../src/compile/from-policy.ts";
import { largePolicy } from "../kernel/bench/tools.ts";
import { corpus, EDGES, root } from "./corpus.ts";

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Reflect.ownKeys(v)) deepFreeze((v as Record<string | symbol, unknown>)[k]);
  }
  return v;
}

/** Reads `after` both ways and compares; true when the splice did the reading (not the full reader). */
function same(name: string, before: { value: unknown; map: SourceMap }, after: string): boolean {
  const fresh = parsePolicyText(after, "p.yaml");
  const spliced = parsePolicyText(after, "p.yaml", before);
  expect([name, JSON.stringify(spliced.value)]).toEqual([name, JSON.stringify(fresh.value)]);
  expect([name, spliced.value]).toEqual([name, fresh.value]);
  expect([name, spliced.map.tree()]).toEqual([name, fresh.map.tree()]);
  expect([name, spliced.map.blockValues]).toEqual([name, fresh.map.blockValues]);
  expect([name, spliced.diagnostics]).toEqual([name, fresh.diagnostics]);
  if (spliced.value && typeof spliced.value === "object" && !Array.isArray(spliced.value)) expect(Object.getPrototypeOf(spliced.value)).toBe(Object.prototype);
  const root = before.map.tree();
  return root !== undefined && before.map.blockValues !== undefined && readAfterEdit({ text: before.map.text, value: before.value, root, values: before.map.blockValues }, after, MAX_DEPTH, MAX_VALUES) !== null;
}

/** Edits of one line: deleted, doubled, a character added at its end, a key renamed, an item added after it, swapped with the next. */
function edits(text: string): [string, string][] {
  const lines = text.split("\n");
  const out: [string, string][] = [];
  const at = (i: number, replaced: string[]) => [...lines.slice(0, i), ...replaced, ...lines.slice(i + 1)].join("\n");
  // Every line of a policy of up to 120 lines; 12 lines spread over a longer one (an edit the
  // block-style reader declines is read by the full reader, which takes a while on long texts).
  const step = lines.length <= 120 ? 1 : Math.ceil(lines.length / 12);
  for (let i = 0; i < lines.length; i += step) {
    const l = lines[i]!;
    out.push([`line ${i + 1} deleted`, at(i, [])]);
    out.push([`line ${i + 1} doubled`, at(i, [l, l])]);
    out.push([`line ${i + 1} longer`, at(i, [`${l}x`])]);
    out.push([`line ${i + 1} key renamed`, at(i, [l.replace(/^(\s*(?:- )?)([a-z_]+):/, "$1$2z:")])]);
    out.push([`line ${i + 1} item after`, at(i, [l, l.replace(/^(\s*)(?:- )?.*$/, "$1- path: /new")])]);
    out.push([`line ${i + 1} comment`, at(i, [l, "  # note"])]);
    if (i + 1 < lines.length) out.push([`lines ${i + 1} and ${i + 2} swapped`, [...lines.slice(0, i), lines[i + 1]!, l, ...lines.slice(i + 2)].join("\n")]);
  }
  return out;
}

function readFrozen(text: string): { value: unknown; map: SourceMap } {
  const parsed = parsePolicyText(text, "p.yaml");
  deepFreeze(parsed.value);
  deepFreeze(parsed.map.tree());
  return { value: parsed.value, map: parsed.map };
}

describe("a policy read after an edit is the policy read from scratch", () => {
  const texts = [...corpus(), ...EDGES].filter(([, t]) => parsePolicyText(t, "p.yaml").map.blockValues !== undefined);

  test("the corpus is there", () => expect(texts.length).toBeGreaterThan(30));

  for (const [name, text] of texts) {
    test(name, () => {
      const before = readFrozen(text);
      const tree = JSON.stringify(before.map.tree());
      let spliced = 0;
      const all = edits(text);
      for (const [edit, after] of all) if (same(`${name}: ${edit}`, before, after)) spliced++;
      // The reading before is untouched.
      expect(JSON.stringify(before.map.tree())).toBe(tree);
      expect(JSON.stringify(before.value)).toBe(JSON.stringify(parsePolicyText(text, "p.yaml").value));
      // Most edits are spliced, not read again whole (else this file tests nothing).
      if (text.split("\n").length > 10) expect(spliced).toBeGreaterThan(all.length / 4);
    }, 30_000);
  }

  test("the same text: the reading itself", () => {
    const text = readFileSync(join(root, "policies", "demo.yaml"), "utf8");
    const before = readFrozen(text);
    expect(same("same", before, text)).toBe(true);
  });

  test("what the block-style reader declines, or a duplicate key, is read whole", () => {
    const text = "version: 1\nfiles:\n  - path: /a\n    allow: []\n  - path: /b\n    allow: []\n";
    const before = readFrozen(text);
    for (const after of [
      text.replace("/b", "&x /b"),
      text.replace("/b", "/b\n      x"),
      text.replace("allow: []\n  - path: /b", "allow: []\n    path: /c\n  - path: /b"),
      text.replace("/b", "/b\t"),
      text.replace("/b\n", "/b\r"),
      text + "version: 2\n",
    ]) {
      expect(same(after, before, after)).toBe(false);
    }
    same("every rule removed", before, "version: 1\nfiles:\n");
  });
});

describe("the reload of a large policy", () => {
  const key = { privateKey: "", publicKey: "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=" } as never;
  const NET = { addresses: 2000, exes: 100 };
  const big = largePolicy(2000, key, "enforce", NET);
  const before = readFrozen(big);

  test("one rule more, one rule less, as the bench reloads", () => {
    expect(same("more", before, largePolicy(2001, key, "enforce", NET))).toBe(true);
    expect(same("less", before, largePolicy(1999, key, "enforce", NET))).toBe(true);
  });

  test("an address added to a destination, a destination removed, an executable renamed", () => {
    const lines = big.split("\n");
    const address = lines.findIndex((l) => /^\s+- 10\.0\./.test(l));
    const dest = lines.findIndex((l) => /^ {4}d7:$/.test(l));
    const exe = lines.findIndex((l) => /^ {2}e5:$/.test(l));
    expect([address, dest, exe].every((i) => i > 0)).toBe(true);
    const withAddress = [...lines.slice(0, address + 1), lines[address]!.replace("10.0.", "10.9."), ...lines.slice(address + 1)].join("\n");
    expect(same("address", before, withAddress)).toBe(true);
    let end = dest + 1;
    while (/^ {6}/.test(lines[end]!)) end++;
    expect(same("destination", before, [...lines.slice(0, dest), ...lines.slice(end)].join("\n"))).toBe(true);
    expect(same("executable", before, [...lines.slice(0, exe), "  e5b:", ...lines.slice(exe + 1)].join("\n"))).toBe(true);
  });

  test("checking with the policy before gives what checking from scratch gives, and the policy before is not written", () => {
    const first = checkPolicy(big, "p.yaml", { host: null });
    expect(first.policy).not.toBeNull();
    deepFreeze(first.policy);
    for (const after of [largePolicy(2001, key, "enforce", NET), big.replace("/srv/bench/f7\n", "/srv/bench/f7/\n"), big.replace("executable: e3\n", "executable: nobody\n")]) {
      const fresh = checkPolicy(after, "p.yaml", { host: null });
      const spliced = checkPolicy(after, "p.yaml", { host: null, before: first.policy! });
      expect(spliced.diagnostics).toEqual(fresh.diagnostics);
      expect(JSON.stringify(spliced.policy)).toBe(JSON.stringify(fresh.policy));
      if (spliced.policy) expect(JSON.stringify(compileInputOf(spliced.policy))).toBe(JSON.stringify(compileInputOf(fresh.policy!)));
    }
  });
});

