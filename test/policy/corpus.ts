// Policy texts the readers are tested on: the policies, the test corpus, the docs' examples, and
// texts written to probe the corners of the block style.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const root = join(import.meta.dir, "..", "..");
export const dirTexts = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => [`${dir.slice(root.length + 1)}/${f}`, readFileSync(join(dir, f), "latin1")] as const);
export const docBlocks = [...readFileSync(join(root, "docs", "policy.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map(
  (m, i) => [`docs/policy.md block ${i}`, m[1]!] as const,
);

/** Every policy of the repository's corpus. */
export const corpus = (): (readonly [string, string])[] => [
  ...dirTexts(join(root, "policies")),
  ...dirTexts(join(import.meta.dir, "invalid")),
  ...dirTexts(join(import.meta.dir, "warnings")),
  ...docBlocks,
];

/** Texts written to probe the corners of the block style. */
export const EDGES: [string, string][] = [
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

