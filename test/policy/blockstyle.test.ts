// The fast block-style reader (src/policy/blockstyle.ts) against the full YAML reader: on every
// text the fast reader accepts, both give the same value, the same places for every value and
// key, and the same duplicate-key errors. It must accept the block style policies are written in,
// and decline the rest.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readBlockStyle } from "../../src/policy/blockstyle.ts";
import { MAX_DEPTH, MAX_VALUES, parseFullYaml, parsePolicyText } from "../../src/policy/parse.ts";

const root = join(import.meta.dir, "..", "..");
const dirTexts = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => [`${dir.slice(root.length + 1)}/${f}`, readFileSync(join(dir, f), "latin1")] as const);
const docBlocks = [...readFileSync(join(root, "docs", "policy.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map(
  (m, i) => [`docs/policy.md block ${i}`, m[1]!] as const,
);

/** Texts written to probe the corners of the block style. */
const EDGES: [string, string][] = [
  ["comments everywhere", "# top\nversion: 1 # v\n\n  # indented comment\nfiles:   # c\n  # between\n  - path: /a # p\n    allow: # a\n      - executable: r   # e\n        access: [read , write]   # x\n# end"],
  ["list at the key's indentation", "files:\n- path: /a\n  allow:\n  - executable: r\n    access: read\n- path: /b\n  allow: []\nexecutables: {}\n"],
  ["empty values", "a:\nb: \nc:   # c\nd:\n  -\n  -   # c\n  - x\ne: ~\nf: null\n"],
  ["scalars of the core schema", "a: true\nb: False\nc: 12\nd: 007\ne: NULL\nf: 10.0.0.1\ng: 8000-8100\nh: sha256:abc\ni: /x/y.z\nj: a:b\nk: it's\nl: x#y\n"],
  ["quoted strings", "a: \"x y: z # w\"\nb: 'it''s'\nc: ''\nd: \"\"\ne: [\"::1\", 'a, b', \"10.0.0.0/8\"]\n"],
  ["flow lists", "a: []\nb: [ ]\nc: [x]\nd: [ x , y ]\ne: [1, 2, true, null]\n"],
  ["deep blocks", "a:\n  b:\n    c:\n      - d:\n          - e: 1\n            f: [2]\n        g: 3\n"],
  ["odd keys", "__proto__: 1\nconstructor: 2\n1: one\ntrue: t\nk.e-y/x_1: v\n"],
  ["duplicate keys", "a: 1\nb:\n  c: 1\n  c: 2\na:\n  - x\n"],
  ["extra spaces after dashes", "a:\n  -   x\n  -    k: v\n       l: w\n"],
  ["CRLF", "version: 1\r\nfiles:\r\n  - path: /a\r\n    allow: [r]\r\n"],
  ["no final newline", "a:\n  b: c"],
  ["nothing but a key", "a:"],
];

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
  const corpus = [
    ...dirTexts(join(root, "policies")),
    ...dirTexts(join(import.meta.dir, "invalid")),
    ...dirTexts(join(import.meta.dir, "warnings")),
    ...docBlocks,
  ];
  for (const [name, text] of corpus) test(name, () => void compare(name, text));

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
