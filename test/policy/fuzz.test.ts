// Fuzz: thousands of mutated and hostile documents thrown at checkPolicy. Reproducible (seeded
// PRNG; FUZZ_SEED and FUZZ_ITERATIONS change the run) and bounded to a few seconds. The hostile
// documents are a quarter of the size limit: big enough to show any quadratic behaviour, small
// enough to keep the run short (the limit itself is tested with one byte over it).
//
// For every input: no exception, an answer within a time bound, at least one error whenever the
// policy is refused, positions that exist (line >= 1, col >= 1, within the text), no internal
// error, and formatting and unsupported() that do not throw either.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkPolicy,
  formatDiagnostics,
  formatDiagnosticsJson,
  MAX_POLICY_BYTES,
} from "../../src/policy/index.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3000);
/** Per input. Generous, so a slow CI machine does not flake; real inputs take about a millisecond. */
const SMALL_BOUND_MS = 500;
const HUGE_BOUND_MS = 5000;

/** mulberry32: small, fast, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const root = join(import.meta.dir, "..", "..");
const corpus: Uint8Array[] = [
  ...readdirSync(join(root, "policies")).map((f) => join(root, "policies", f)),
  ...readdirSync(join(import.meta.dir, "invalid"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(import.meta.dir, "invalid", f)),
].map((p) => new Uint8Array(readFileSync(p)));

const enc = new TextEncoder();
const TOKENS = [
  ":", ": ", "- ", "-", "[", "]", "{", "}", ",", "&a ", "*a", "&b [*a, *a, *a]", "!!str ", "!!binary ", "!x ",
  "\t", "\0", '"', "'", "#", "\n", "\r\n", "\r", "  ", "    ", "---\n", "...\n", "? ", "|", ">", "|-\n  x", "%YAML 1.1\n",
  "%TAG ! tag:x,2000:\n", "@", "`", "\uFEFF", "\u0085", "\u2028", "\\", "\\u0000", "<<: ", "~", "null", "1e999", "0x1F", "-.inf",
  ".nan", "0o17", "true", "yes", "__proto__: ", "constructor: ", "version: 1\n", "version: 2\n", "mode: monitor\n",
  "files:\n", "executables:\n", "network:\n", "runtime:\n", "agent:\n", "path: /x\n", "allow: []\n", "access: raed",
  "10.0.0.1/8", "::ffff:1.2.3.4", "999999999999999999999", "-1", "sha256:", "😀", "é", "\u0301", "\uFFFD",
];
const BYTES = [0x00, 0x07, 0x1b, 0x7f, 0x80, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf5, 0xfe, 0xff];

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const at = (b: Uint8Array) => Math.floor(rand() * (b.length + 1));
  let b = input;
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r++) {
    const choice = Math.floor(rand() * 9);
    const i = at(b);
    switch (choice) {
      case 0: { // flip a byte
        if (b.length === 0) break;
        const c = new Uint8Array(b);
        const j = Math.min(i, c.length - 1);
        c[j] = c[j]! ^ (1 << Math.floor(rand() * 8));
        b = c;
        break;
      }
      case 1: // insert a YAML-ish token
        b = concat(b.subarray(0, i), enc.encode(pick(TOKENS)), b.subarray(i));
        break;
      case 2: // insert a raw (possibly invalid) byte
        b = concat(b.subarray(0, i), Uint8Array.of(pick(BYTES)), b.subarray(i));
        break;
      case 3: { // delete a span
        const n = Math.floor(rand() * 20);
        b = concat(b.subarray(0, i), b.subarray(Math.min(b.length, i + n)));
        break;
      }
      case 4: { // duplicate, drop or swap whole lines
        const lines = new TextDecoder().decode(b).split("\n");
        const j = Math.floor(rand() * lines.length);
        const k = Math.floor(rand() * lines.length);
        const op = Math.floor(rand() * 3);
        if (op === 0) lines.splice(j, 0, lines[k]!);
        else if (op === 1) lines.splice(j, 1);
        else [lines[j], lines[k]] = [lines[k]!, lines[j]!];
        b = enc.encode(lines.join("\n"));
        break;
      }
      case 5: { // re-indent a line
        const lines = new TextDecoder().decode(b).split("\n");
        const j = Math.floor(rand() * lines.length);
        const d = Math.floor(rand() * 7) - 3;
        lines[j] = d >= 0 ? " ".repeat(d) + lines[j] : lines[j]!.slice(-d);
        b = enc.encode(lines.join("\n"));
        break;
      }
      case 6: { // typo: swap two adjacent letters
        if (b.length < 2) break;
        const c = new Uint8Array(b);
        const j = Math.min(i, c.length - 2);
        [c[j], c[j + 1]] = [c[j + 1]!, c[j]!];
        b = c;
        break;
      }
      case 7: // truncate
        b = b.subarray(0, i);
        break;
      case 8: { // splice in a piece of another document
        const other = pick(corpus);
        const s = at(other);
        b = concat(b.subarray(0, i), other.subarray(s, s + Math.floor(rand() * 200)), b.subarray(i));
        break;
      }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The invariants, for one input. Returns the diagnostics for further checks. */
function survive(input: string | Uint8Array, label: string, boundMs: number): ReturnType<typeof checkPolicy> {
  const t0 = performance.now();
  let result: ReturnType<typeof checkPolicy>;
  try {
    result = checkPolicy(input, "fuzz.yaml", { host: null });
  } catch (e) {
    throw new Error(`${label}: checkPolicy threw ${String(e)}`);
  }
  const ms = performance.now() - t0;
  if (ms > boundMs) throw new Error(`${label}: took ${ms.toFixed(0)} ms (bound ${boundMs} ms)`);

  const { policy, diagnostics } = result;
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (policy === null && errors.length === 0) throw new Error(`${label}: refused without an error`);
  if (policy !== null && errors.length > 0) throw new Error(`${label}: accepted with errors`);
  const text = typeof input === "string" ? input : new TextDecoder().decode(input);
  const lines = text.split("\n").length;
  for (const d of diagnostics) {
    const where = `${label}: ${d.line}:${d.col} ${d.message}`;
    if (!(Number.isInteger(d.line) && d.line >= 1 && d.line <= lines + 1)) throw new Error(`${where}: bad line`);
    if (!(Number.isInteger(d.col) && d.col >= 1)) throw new Error(`${where}: bad column`);
    if (d.endCol !== undefined && !(d.endCol > d.col)) throw new Error(`${where}: bad end column`);
    if (d.message.length === 0 || /Internal error/.test(d.message)) throw new Error(`${where}: internal error`);
    if (d.file !== "fuzz.yaml") throw new Error(`${where}: bad file`);
  }
  formatDiagnostics(diagnostics, result.text ?? "", Infinity);
  formatDiagnosticsJson(diagnostics);
  return result;
}

describe("fuzz", () => {
  test(`${ITERATIONS} mutated policies (seed ${SEED})`, () => {
    const rand = prng(SEED);
    let refused = 0;
    for (let n = 0; n < ITERATIONS; n++) {
      const base = corpus[Math.floor(rand() * corpus.length)]!;
      const input = mutate(base, rand);
      const { diagnostics: diags } = survive(rand() < 0.5 ? input : new TextDecoder().decode(input), `seed ${SEED} #${n}`, SMALL_BOUND_MS);
      if (diags.some((d) => d.severity === "error")) refused++;
    }
    // Most mutations break something; if none did, the mutator is broken.
    expect(refused).toBeGreaterThan(ITERATIONS / 4);
  }, 60_000);

  test("random binary data", () => {
    const rand = prng(SEED ^ 0xb1a);
    for (let n = 0; n < 300; n++) {
      const b = new Uint8Array(Math.floor(rand() * 4096));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
      const { diagnostics: d } = survive(b, `binary #${n}`, SMALL_BOUND_MS);
      if (b.length > 0) expect(d.length).toBeGreaterThan(0);
    }
  });

  const hostile: [string, () => string | Uint8Array][] = [
    ["empty", () => ""],
    ["empty bytes", () => new Uint8Array(0)],
    ["whitespace", () => " \n\n   \n"],
    ["a lone BOM", () => "\uFEFF"],
    ["just a scalar", () => "42"],
    ["null document", () => "~"],
    ["a lone dash", () => "-"],
    ["just a colon", () => ":"],
    ["document markers", () => "---\n...\n---\n"],
    ["directives only", () => "%YAML 1.2\n---\n"],
    ["UTF-16 with BOM", () => Uint8Array.from([0xff, 0xfe, 0x76, 0x00, 0x3a, 0x00])],
    ["Latin-1", () => Uint8Array.from([...enc.encode("version: 1\n# caf"), 0xe9, 0x0a])],
    ["one byte over the limit", () => `version: 1\n#${"x".repeat(MAX_POLICY_BYTES - 11)}`],
    ["deep flow nesting", () => `version: 1\nfiles: ${"[".repeat(200_000)}`],
    ["deep closed flow nesting", () => `a: ${"[".repeat(100_000)}${"]".repeat(100_000)}`],
    ["deep flow mappings", () => "{a: ".repeat(200_000)],
    ["deep block sequences", () => `${"- ".repeat(300_000)}x`],
    ["deep block mappings", () => Array.from({ length: 1400 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")],
    ["deep complex keys", () => `${"? ".repeat(300_000)}x`],
    ["alias bomb", () => {
      let s = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
      for (let i = 1; i < 30; i++) s += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]\n`;
      return s;
    }],
    ["alias bomb in mappings", () => {
      let s = "version: 1\nexecutables: &e0 {a: {path: /a}}\n";
      for (let i = 1; i < 25; i++) s += `x${i}: &e${i} {${Array.from({ length: 8 }, (_, k) => `k${k}: *e${i - 1}`).join(", ")}}\n`;
      return s;
    }],
    ["self-referencing alias", () => "version: 1\nfiles: &f [*f]\n"],
    ["many aliases", () => `a: &a x\nb: [${Array(30_000).fill("*a").join(",")}]\n`],
    ["many documents", () => "version: 1\n---\n".repeat(20_000)],
    ["many errors", () => `a: ${"&a ".repeat(20_000)}x`],
    ["many tags", () => `a: ${"!t ".repeat(20_000)}x`],
    ["many unique keys", () => Array.from({ length: 20_000 }, (_, i) => `k${i}: v`).join("\n")],
    ["many duplicate keys", () => Array.from({ length: 20_000 }, () => "version: 1").join("\n")],
    ["many files with errors", () => `version: 1\nfiles:\n${Array.from({ length: 5_000 }, (_, i) => `  - {path: r${i}, allow: []}`).join("\n")}`],
    ["one long line", () => `version: 1\nmode: ${"m".repeat(250_000)}\n`],
    ["a long key", () => `${"k".repeat(2000)}: 1\n`],
    ["long comment lines", () => `#${"x".repeat(250_000)}`],
    ["many newlines", () => "\n".repeat(250_000)],
    ["colons", () => ":".repeat(250_000)],
    ["quotes", () => `"${"\\".repeat(249_998)}"`],
    ["huge numbers", () => "version: 1e400\nfiles: [{path: /x, allow: [{executable: 99999999999999999999999, access: read}]}]\n"],
    ["prototype keys", () => "version: 1\n__proto__: {x: 1}\nconstructor: {prototype: {}}\nexecutables: {__proto__: {path: /a}, toString: {path: /b}}\n"],
    ["non-string keys", () => "version: 1\n1: a\ntrue: b\nnull: c\n[a, b]: c\n{a: b}: c\n? - x\n: y\n"],
    ["YAML 1.1 merge", () => "%YAML 1.1\n---\nversion: 1\nbase: &b {mode: monitor}\n<<: *b\n"],
    ["control characters in escapes", () => 'version: 1\nfiles: [{path: "/x\\0\\a\\e\\x1b", allow: [{executable: "\\u0000", access: read}]}]\n'],
    ["lone surrogates", () => "version: 1\n# \uD800 \uDC00\n"],
    ["mixed line endings", () => "version: 1\r\nmode: monitor\rfiles: []\n"],
  ];
  for (const [name, make] of hostile) {
    test(`hostile: ${name}`, () => {
      const input = make();
      const r = survive(input, name, HUGE_BOUND_MS);
      if (typeof input === "string") survive(enc.encode(input), `${name} (bytes)`, HUGE_BOUND_MS);
      if (name !== "huge numbers") expect(r.policy).toBeNull();
    }, 30_000);
  }
});
