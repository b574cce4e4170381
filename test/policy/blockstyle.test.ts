// The fast block-style reader (src/policy/blockstyle.ts) against the full YAML reader: on every
// text the fast reader accepts, both give the same value, the same places for every value and
// key, and the same duplicate-key errors. It must accept the block style policies are written in,
// and decline the rest.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readBlockStyle } from "../../src/policy/blockstyle.ts";
import { MAX_DEPTH, MAX_VALUES, parseFullYaml, parsePolicyText } from "../../src/policy/parse.ts";
import { corpus, dirTexts, docBlocks, EDGES, root } from "./corpus.ts";

/** Texts the fast reader must leave to the full one. */
const DECLINED: [string, string][] = [
  ["an anchor", "a: &x 1\nb: *x\n"],
  ["a flow mapping", "a: {b: 1}\n"],
  ["a block string", "a: |\n  x\n"],
  ["a multi-line plain value", "a: x\n  y\n"],
  ["escapes", 'a: "\\n"\n'],
  ["a tag", "a: !t x\n"],
  ["a tab", "a:\tx\n"],
  ["a document marker", "---\na: 1\n"],
  ["a list at the top", "- a\n"],
  ["a bad indentation", "a:\n  b: 1\n c: 2\n"],
  ["a float", "a: 1.5\n"],
  ["a quoted key", '"a": 1\n'],
  ["a key starting with a dot or a dash", "...: 1\n-x: 2\n"],
  ["a value with a colon and space", "a: b: c\n"],
  ["a trailing comma", "a: [x,]\n"],
  ["unclosed list", "a: [x\n"],
  ["empty", ""],
  ["comments only", "# x\n"],
];

function compare(name: string, text: string): boolean {
  const fast = readBlockStyle(text, MAX_DEPTH, MAX_VALUES);
  if (!fast.ok) return false;
  const full = parseFullYaml(text, "p.yaml");
  const viaFast = parsePolicyText(text, "p.yaml");
  expect([name, viaFast.value]).toEqual([name, full.value]);
  expect([name, viaFast.map.tree()]).toEqual([name, full.map.tree()]);
  expect([name, viaFast.diagnostics]).toEqual([name, full.diagnostics]);
  if (viaFast.value && typeof viaFast.value === "object") expect(Object.getPrototypeOf(viaFast.value)).toBe(Object.prototype);
  return true;
}

describe("the fast reader reads what the full reader reads", () => {
  for (const [name, text] of corpus()) test(name, () => void compare(name, text));

  for (const [name, text] of EDGES)
    test(`accepts ${name}`, () => {
      expect([name, compare(name, text)]).toEqual([name, true]);
    });

  test("every example policy and every complete docs example is read by the fast reader (but a PEM block string)", () => {
    const declined = [...dirTexts(join(root, "policies")), ...docBlocks.filter(([, t]) => t.startsWith("version: 1"))]
      .filter(([, t]) => !readBlockStyle(t, MAX_DEPTH, MAX_VALUES).ok)
      .map(([n]) => n);
    expect(declined).toEqual(["policies/self-protection.yaml"]);
  });

  test("generated policies, each line mutated", () => {
    const base = readFileSync(join(root, "policies", "demo.yaml"), "utf8");
    const lines = base.split("\n");
    const variants = [(l: string) => `${l} # c`, (l: string) => `${l}   `, (l: string) => l.replace(/: /, ":   "), (l: string) => `  ${l}`, (l: string) => l.replace(/^(\s*)- /, "$1-   ")];
    let accepted = 0;
    for (let i = 0; i < lines.length; i++)
      for (const v of variants) if (compare(`line ${i + 1}`, [...lines.slice(0, i), v(lines[i]!), ...lines.slice(i + 1)].join("\n"))) accepted++;
    expect(accepted).toBeGreaterThan(lines.length);
  });
});

describe("the fast reader declines the rest", () => {
  for (const [name, text] of DECLINED)
    test(name, () => {
      const r = readBlockStyle(text, MAX_DEPTH, MAX_VALUES);
      expect(r.ok).toBe(false);
    });
});
