// The pieces of the checker on their own: addresses, ports, hosts, keys, paths, decoding,
// positions, formatting and the checkPolicy contract.

import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nacl from "tweetnacl";
import {
  checkPolicy,
  formatDiagnostics,
  formatDiagnosticsJson,
  locate,
  MAX_POLICY_BYTES,
  parseCidr,
  parseHost,
  parsePort,
  parsePublicKey,
  type Diagnostic,
} from "../../src/policy/index.ts";
import { decodePolicy, firstInvalidUtf8 } from "../../src/policy/decode.ts";
import { firstOf } from "../../src/policy/diagnostic.ts";
import { unsettledList } from "../../src/kernel/apply.ts";
import { parsePolicyText, unclosedOpener } from "../../src/policy/parse.ts";
import { analysePath, normalizePath, pathProblems } from "../../src/policy/paths.ts";
import { closest, editDistance } from "../../src/policy/suggest.ts";

describe("addresses", () => {
  const ok = (s: string) => {
    const r = parseCidr(s);
    if (!r.ok) throw new Error(r.message);
    return r.value.canonical;
  };
  const bad = (s: string) => {
    const r = parseCidr(s);
    if (r.ok) throw new Error(`accepted ${s}`);
    return r.message;
  };
  test("IPv4 and IPv4 CIDRs", () => {
    expect(ok("10.0.0.5")).toBe("10.0.0.5/32");
    expect(ok("10.0.0.0/8")).toBe("10.0.0.0/8");
    expect(ok("0.0.0.0/0")).toBe("0.0.0.0/0");
    expect(ok("255.255.255.255")).toBe("255.255.255.255/32");
  });
  test("IPv6, compressed and not, with embedded IPv4", () => {
    expect(ok("2001:db8::1")).toBe("2001:db8::1/128");
    expect(ok("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1/128");
    expect(ok("::1")).toBe("::1/128");
    expect(ok("::")).toBe("::/128");
    expect(ok("2001:db8::/32")).toBe("2001:db8::/32");
    expect(ok("fe80::/10")).toBe("fe80::/10");
    expect(ok("64:ff9b::192.0.2.1")).toBe("64:ff9b::c000:201/128");
    expect(ok("1:0:0:1:0:0:0:1")).toBe("1:0:0:1::1/128");
  });
  test("IPv4-mapped IPv6 is the IPv4 address", () => {
    expect(ok("::ffff:10.1.2.3")).toBe("10.1.2.3/32");
    expect(ok("::ffff:10.0.0.0/104")).toBe("10.0.0.0/8");
    expect(ok("::ffff:a01:203")).toBe("10.1.2.3/32");
  });
  test("rejects what is not an address", () => {
    expect(bad("10.0.0")).toBe('Invalid IPv4 address "10.0.0"');
    expect(bad("10.0.0.256")).toBe('Invalid IPv4 address "10.0.0.256"');
    expect(bad("01.0.0.1")).toBe('Invalid IPv4 address "01.0.0.1"');
    expect(bad("1:2:3:4:5:6:7:8:9")).toBe('Invalid IPv6 address "1:2:3:4:5:6:7:8:9"');
    expect(bad("1::2::3")).toBe('Invalid IPv6 address "1::2::3"');
    expect(bad("1:2:3:4:5:6:7::8")).toBe('Invalid IPv6 address "1:2:3:4:5:6:7::8"');
    expect(bad("12345::")).toBe('Invalid IPv6 address "12345::"');
    expect(bad("example.com")).toBe('Invalid address "example.com"');
    expect(bad("10.0.0.0/33")).toBe('Invalid prefix length "/33" in "10.0.0.0/33"');
    expect(bad("10.0.0.0/08")).toBe('Invalid prefix length "/08" in "10.0.0.0/08"');
    expect(bad("10.0.0.0/")).toBe('Invalid prefix length "/" in "10.0.0.0/"');
    expect(bad("10.0.0.1/24")).toBe('Address "10.0.0.1/24" has bits set past its /24 prefix');
    expect(parseCidr("10.0.0.1/24")).toMatchObject({ hint: 'did you mean "10.0.0.0/24"?' });
    expect(bad("fe80::1%eth0")).toBe('Address "fe80::1%eth0" has a zone index');
  });
  test("a text asked again gets the answer of the first time (the checker, the compiler and a reload read the same addresses)", () => {
    for (const text of ["10.1.2.0/24", "2001:db8::/32", "::ffff:10.0.0.1", "10.0.0.1/24"]) {
      const first = parseCidr(text);
      expect(parseCidr(text)).toBe(first);
      expect(parseCidr(`${text}`.slice(0))).toEqual(first);
    }
  });
});

describe("ports", () => {
  test("single ports and ranges", () => {
    expect(parsePort(443)).toEqual({ ok: true, value: { lo: 443, hi: 443 } });
    expect(parsePort("443")).toEqual({ ok: true, value: { lo: 443, hi: 443 } });
    expect(parsePort("8000-8100")).toEqual({ ok: true, value: { lo: 8000, hi: 8100 } });
    expect(parsePort(65535)).toEqual({ ok: true, value: { lo: 65535, hi: 65535 } });
  });
  test("out of range, backwards, garbage", () => {
    for (const p of [0, -1, 65536, 1.5, "0-10", "10-70000", "100-10", "http", "", "1-", " 80"]) expect(parsePort(p).ok).toBe(false);
  });
});

describe("hosts", () => {
  test("DNS names, lowercased, final dot dropped", () => {
    expect(parseHost("KMS.Example.com.")).toEqual({ ok: true, value: "kms.example.com" });
    expect(parseHost("_srv.example.com")).toEqual({ ok: true, value: "_srv.example.com" });
    expect(parseHost("localhost")).toEqual({ ok: true, value: "localhost" });
  });
  test("rejects wildcards, URLs, ports, addresses and bad labels", () => {
    for (const h of ["*.example.com", "https://x.com", "x.com/path", "x.com:443", "10.0.0.1", "::1", "-x.com", "x..com", "a".repeat(64) + ".com", "123", ""])
      expect(parseHost(h).ok).toBe(false);
  });
});

describe("public keys", () => {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const spki = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, ...pair.publicKey]);
  test("raw, DER and PEM forms decode to the same 32 bytes", () => {
    for (const text of [b64(pair.publicKey), b64(spki), `-----BEGIN PUBLIC KEY-----\n${b64(spki)}\n-----END PUBLIC KEY-----\n`]) {
      const r = parsePublicKey(text);
      expect(r.ok).toBe(true);
      if (r.ok) expect(Buffer.from(r.value)).toEqual(Buffer.from(pair.publicKey));
    }
  });
  test("refuses private keys, wrong lengths, bad base64, zero keys", () => {
    expect(parsePublicKey(b64(pair.secretKey))).toMatchObject({ ok: false, message: "This is a private key" });
    expect(parsePublicKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")).toMatchObject({ ok: false, message: "This is a private key" });
    expect(parsePublicKey(b64(new Uint8Array(31).fill(1)))).toMatchObject({ ok: false, message: "Public key is 31 bytes; an Ed25519 public key is 32" });
    expect(parsePublicKey("not base64")).toMatchObject({ ok: false, message: "Public key is not valid base64" });
    expect(parsePublicKey("QUJD=")).toMatchObject({ ok: false });
    expect(parsePublicKey(b64(new Uint8Array(32)))).toMatchObject({ ok: false, message: "Public key is all zeros" });
    expect(parsePublicKey("-----BEGIN PUBLIC KEY-----\nAAAA")).toMatchObject({ ok: false, message: "Malformed PEM public key" });
    expect(parsePublicKey(`ssh-ed25519 ${b64(spki)}`)).toMatchObject({ ok: false, message: "OpenSSH public keys are not supported" });
  });
});

describe("paths", () => {
  const messages = (p: string, what: "file" | "executable" = "file") => pathProblems(p, what).map((x) => `${x.severity}: ${x.message}`);
  test("absolute, plain paths are fine; a trailing slash marks a directory", () => {
    expect(messages("/srv/secret.txt")).toEqual([]);
    expect(messages("/srv/data/")).toEqual([]);
    expect(messages("/")).toEqual([]);
    expect(messages("/usr/bin/", "executable")).toEqual(['error: Path "/usr/bin/" ends with "/"']);
  });
  test("relative, dotted, doubled, too long", () => {
    expect(messages("srv/x")).toEqual(['error: Path "srv/x" is relative']);
    expect(messages("")).toEqual(["error: Empty path"]);
    expect(messages("/a/../b")).toEqual(['error: Path "/a/../b" contains ".."']);
    expect(messages("/a/./b")).toEqual(['error: Path "/a/./b" contains "."']);
    expect(messages("/a//b")).toEqual(['error: Path "/a//b" contains an empty component']);
    expect(messages(`/${"x".repeat(256)}`)).toEqual([expect.stringContaining("component longer than 255 bytes")]);
    expect(messages(`/${"abcdefgh/".repeat(500)}x`)).toEqual([expect.stringContaining("longer than 4095 bytes")]);
    expect(messages("/srv/*.key")).toEqual(['warning: Path "/srv/*.key" contains "*", which is matched literally']);
  });
  test("the shortcut for plain paths agrees with the full analysis", () => {
    const alphabet = ["/", "/", "a", "Z", "0", ".", "..", "-", "_", " ", "*", "?", "[", "]", "é", "\u0001", "x".repeat(200), "~"];
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let n = 0; n < 20_000; n++) {
      let p = "";
      for (let k = Math.floor(rand() * 8); k >= 0; k--) p += alphabet[Math.floor(rand() * alphabet.length)]!;
      for (const what of ["file", "executable", "output"] as const) expect([p, what, pathProblems(p, what)]).toEqual([p, what, analysePath(p, what)]);
    }
  });

  test("normalizePath", () => {
    expect(normalizePath("/a/./b//c/../d/")).toBe("/a/b/d");
    expect(normalizePath("/../x")).toBeUndefined();
  });
});

describe("suggestions", () => {
  test("edit distance counts a transposition as one edit", () => {
    expect(editDistance("allwo", "allow")).toBe(1);
    expect(editDistance("raed", "read")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });
  test("closest suggests only plausible typos", () => {
    expect(closest("exectuables", ["executables", "files"])).toBe("executables");
    expect(closest("zzz", ["executables", "files"])).toBeUndefined();
  });
});

describe("decoding", () => {
  test("finds the first invalid UTF-8 byte", () => {
    expect(firstInvalidUtf8(new TextEncoder().encode("héllo ✓ 𝄞"))).toBe(-1);
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // surrogate
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xe2, 0x82]))).toBe(1); // truncated
    expect(firstInvalidUtf8(Uint8Array.from([0xf5, 0x80, 0x80, 0x80]))).toBe(0);
  });
  test("positions of bad bytes are line and column", () => {
    const r = decodePolicy(Uint8Array.from([...new TextEncoder().encode("a: 1\nb: é"), 0xff]), "x.yaml");
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.diagnostic.line, r.diagnostic.col]).toEqual([2, 5]);
  });
  test("a byte order mark is allowed and ignored", () => {
    const r = checkPolicy("\uFEFFversion: 1\nmode: monitor\n", "x.yaml", { host: null });
    expect(r.diagnostics.map((d) => d.message)).toEqual(["Policy protects nothing"]);
    expect([r.diagnostics[0]!.line, r.diagnostics[0]!.col]).toEqual([1, 1]);
  });
  test("size limit, for bytes and for strings", () => {
    const big = `version: 1\n#${"x".repeat(MAX_POLICY_BYTES)}\n`;
    for (const input of [big, new TextEncoder().encode(big)]) {
      const r = checkPolicy(input, "big.yaml", { host: null });
      expect(r.policy).toBeNull();
      expect(r.diagnostics).toHaveLength(1);
      expect(r.diagnostics[0]!.message).toBe(`Policy is too large (${MAX_POLICY_BYTES + 13} bytes)`);
    }
    // Multi-byte characters count as bytes, not as characters.
    const wide = `version: 1\n#${"é".repeat(MAX_POLICY_BYTES / 2)}\n`;
    expect(checkPolicy(wide, "wide.yaml", { host: null }).diagnostics[0]!.message).toStartWith("Policy is too large");
  });
  test("control characters and NUL", () => {
    expect(checkPolicy("version: 1\x07\n", "x.yaml", { host: null }).diagnostics[0]!.message).toBe("Policy contains the control character U+0007");
    expect(checkPolicy("version: 1\n\0", "x.yaml", { host: null }).diagnostics[0]).toMatchObject({ line: 2, col: 1, message: "Policy contains a NUL byte" });
    expect(checkPolicy("version: 1\n# \uD800\n", "x.yaml", { host: null }).diagnostics[0]!.message).toBe("Policy contains an unpaired UTF-16 surrogate");
  });
});

describe("positions", () => {
  const text = `version: 1
executables:
  reader: {path: /usr/bin/reader}
files:
  - path: /srv/x
    allow:
      - {executable: reader, access: [read, write]}
`;
  const { map } = parsePolicyText(text, "p.yaml");
  test("every value path maps to its node, keys to their key", () => {
    expect(map.value(["files", 0, "allow", 0, "access", 1])).toEqual({ line: 7, col: 45, endCol: 50 });
    expect(map.key(["files", 0, "allow", 0, "access"])).toEqual({ line: 7, col: 30, endCol: 36 });
    expect(map.value(["executables", "reader", "path"])).toEqual({ line: 3, col: 18, endCol: 33 });
    expect(map.key(["executables", "reader"])).toEqual({ line: 3, col: 3, endCol: 9 });
  });
  test("an unknown path falls back to its nearest known ancestor", () => {
    expect(map.value(["files", 0, "nothing", 3])).toEqual(map.value(["files", 0]));
  });
  test("locate() answers for a checked policy", () => {
    const r = checkPolicy(text, "p.yaml", { host: null });
    expect(locate(r.policy!, ["files", 0])).toEqual({ file: "p.yaml", line: 5, col: 5, endCol: 17 });
    expect(locate(r.policy!, ["files", 0, "path"], "key")).toEqual({ file: "p.yaml", line: 5, col: 5, endCol: 9 });
  });
  test("itemStarts: each item's field where valueStart finds it, for both readers and for an item without the field", () => {
    const block = "version: 1\nfiles:\n  - path: /srv/a\n    allow: []\n  - allow: []\n  -   path: /srv/c\n";
    const flow = "version: 1\nfiles: [{path: /srv/a}, {allow: []},\n  {path: &p /srv/c}]\n";
    for (const t of [block, flow, text]) {
      const m = parsePolicyText(t, "p.yaml").map;
      const each = [0, 1, 2].map((i) => m.valueStart(["files", i, "path"]));
      expect(m.itemStarts(["files"], "path", 3)).toEqual(each);
    }
    const m = parsePolicyText(block, "p.yaml").map;
    expect(m.itemStarts(["files"], "path", 3).map((o) => [o.line, o.col])).toEqual([[3, 11], [5, 5], [6, 13]]);
    expect(m.itemStarts(["nothing"], "path", 1)).toEqual([m.valueStart(["nothing", 0, "path"])]);
  });
  test("itemStarts without a field: where each item of a list starts, for both readers, past the list's end too", () => {
    const block = "addresses:\n  - 10.0.0.0/8\n  -   192.0.2.1\n  - [x]\n";
    const flow = "addresses: [10.0.0.0/8,\n  192.0.2.1, [x]]\n";
    for (const t of [block, flow]) {
      const m = parsePolicyText(t, "p.yaml").map;
      expect(m.itemStarts(["addresses"], undefined, 4)).toEqual([0, 1, 2, 3].map((i) => m.valueStart(["addresses", i])));
    }
    const m = parsePolicyText(block, "p.yaml").map;
    expect(m.itemStarts(["addresses"], undefined, 3).map((o) => [o.line, o.col])).toEqual([[2, 5], [3, 7], [4, 5]]);
  });
  test("unclosed quotes and brackets are found at their opening", () => {
    expect(unclosedOpener('a: "x\n', 6)).toEqual({ offset: 3, char: '"' });
    expect(unclosedOpener("a: [x, {y: 1}\n", 14)).toEqual({ offset: 3, char: "[" });
    expect(unclosedOpener("a: it's fine # don't\n", 20)).toBeUndefined();
    expect(unclosedOpener("a: 'it''s'\n", 11)).toBeUndefined();
  });
});

describe("formatting", () => {
  test("firstOf: all items when they fit, else the first and how many more", () => {
    expect(firstOf([], 2)).toBe("");
    expect(firstOf(["a", "b"], 2)).toBe("a, b");
    expect(firstOf(["a", "b"], 2, " and ")).toBe("a and b");
    expect(firstOf(["a", "b", "c", "d", "e"], 2, " and ")).toBe("a, b and 3 more");
    expect(unsettledList(["/a"])).toBe('"/a"');
    expect(unsettledList(["/a", "/b"])).toBe('"/a" and "/b"');
    expect(unsettledList(["/a", "/b", "/c"])).toBe('"/a", "/b" and 1 more');
  });
  const text = "version: 1\nfiles:\n\t- x\n";
  const d: Diagnostic = { file: "p.yaml", line: 1, col: 10, endCol: 11, severity: "error", message: "Boom", hint: "fix it", path: ["version"] };
  test("the exact human format", () => {
    expect(formatDiagnostics([d], text)).toBe("p.yaml:1:10: error: Boom\n   1 | version: 1\n     |          ^\nhint: fix it\n");
  });
  test("blocks are separated by an empty line; a line without excerpt has none", () => {
    const w: Diagnostic = { ...d, line: 99, col: 1, severity: "warning", message: "Far", path: [] };
    delete w.hint;
    expect(formatDiagnostics([d, w], text)).toBe(`${formatDiagnostics([d], text)}\np.yaml:99:1: warning: Far\n`);
  });
  test("tabs are kept in the underline so the caret lines up", () => {
    const t: Diagnostic = { ...d, line: 3, col: 4, endCol: 5 };
    expect(formatDiagnostics([t], text)).toContain("   3 | \t- x\n     | \t  ^\n");
  });
  test("long lines are cut around the column", () => {
    const long = `key: ${"a".repeat(500)}BAD${"b".repeat(500)}`;
    const out = formatDiagnostics([{ ...d, col: 506, endCol: 509 }], long);
    const [, src, caret] = out.split("\n");
    expect(src!.length).toBeLessThan(140);
    expect(src!.slice(caret!.indexOf("^"), caret!.indexOf("^") + 3)).toBe("BAD");
  });
  test("control characters in the excerpt are replaced", () => {
    expect(formatDiagnostics([{ ...d, col: 1 }], "a\x1b[31mb\n")).toContain("a\uFFFD[31mb");
  });
  test("JSON form", () => {
    const json = JSON.parse(formatDiagnosticsJson([d]));
    expect(json).toEqual({ errors: 1, warnings: 0, diagnostics: [{ file: "p.yaml", line: 1, col: 10, endCol: 11, severity: "error", message: "Boom", hint: "fix it", path: ["version"] }] });
  });
});

describe("checkPolicy", () => {
  test("returns the policy as written when there is no error, with warnings", () => {
    const r = checkPolicy("version: 1\nexecutables:\n  a:\n    path: /x/missing/a\n", "p.yaml", {
      host: { pathKind: () => "missing" },
    });
    expect(r.policy).toEqual({ version: 1, executables: { a: { path: "/x/missing/a" } } });
    expect(r.diagnostics.map((x) => x.severity)).toEqual(["warning", "warning", "warning"]);
  });
  test("the default host is this machine", () => {
    const r = checkPolicy("version: 1\nfiles:\n  - path: /nonexistent/bomfather/x\n    allow: [{executable: a, access: read}]\nexecutables:\n  a: {path: /bin/sh}\n", "p.yaml");
    expect(r.diagnostics.map((x) => x.message)).toContain('Path "/nonexistent/bomfather/x" does not exist on this machine');
  });
  test("accepts flow style and aliases", () => {
    const r = checkPolicy(
      "version: 1\nexecutables: {a: {path: /a}, b: {path: /b}}\nfiles:\n  - {path: /x, allow: &both [{executable: a, access: read}, {executable: b, access: [read, write]}]}\n  - {path: /y, allow: *both}\n",
      "p.yaml",
      { host: null },
    );
    expect(r.diagnostics).toEqual([]);
    expect(r.policy!.files![1]!.allow).toEqual(r.policy!.files![0]!.allow);
  });
  test("never caps the number of diagnostics: every problem is counted", () => {
    const rules = Array.from({ length: 3000 }, (_, i) => `  - {path: rel${i}, allow: [{executable: a, access: read}]}`).join("\n");
    const r = checkPolicy(`version: 1\nexecutables: {a: {path: /a}}\nfiles:\n${rules}\n`, "p.yaml", { host: null });
    expect(r.diagnostics).toHaveLength(3000);
    expect(r.diagnostics.every((d) => d.message === `Path "rel${d.line - 4}" is relative`)).toBe(true);
  });
  test("on this machine: a file written as a directory, a directory written as a file, a script named as a program", () => {
    const dir = mkdtempSync(join(tmpdir(), "bomfather-host-"));
    writeFileSync(join(dir, "secret.txt"), "x");
    writeFileSync(join(dir, "tool.sh"), "#!/bin/sh\necho hi\n");
    mkdirSync(join(dir, "data"));
    const text = `version: 1\nexecutables:\n  tool:\n    path: ${dir}/tool.sh\nfiles:\n  - path: ${dir}/secret.txt/\n    allow: [{executable: tool, access: read}]\n  - path: ${dir}/data\n    allow: [{executable: tool, access: read}]\n`;
    const r = checkPolicy(text, "p.yaml");
    expect(r.diagnostics.filter((d) => d.severity === "warning").map((d) => d.message)).toEqual([
      `Path "${dir}/tool.sh" is a script run by "/bin/sh" on this machine`,
      `Path "${dir}/secret.txt/" ends with "/" but is a file on this machine`,
      `Path "${dir}/data" is a directory on this machine: the rule covers everything below it`,
    ]);
  });
  test("a policy over 1 MiB that is not plain block style is refused where it leaves the style", () => {
    const rules = Array.from({ length: 20_000 }, (_, i) => `  - path: /srv/data/f${i}\n    allow:\n      - executable: a\n        access: [read]`).join("\n");
    const text = `version: 1\nexecutables:\n  a:\n    path: /a\nfiles:\n${rules}\n  - {path: /x, allow: [{executable: a, access: read}]}\n`;
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const r = checkPolicy(text, "p.yaml", { host: null });
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ line: 80006, col: 5, message: 'A "{...}" mapping' });
    expect(r.diagnostics[0]!.hint).toStartWith("a policy over 1 MiB must be plain block style");
    expect(checkPolicy(text.replace(/ {2}- \{path: \/x.*\n/, ""), "p.yaml", { host: null }).policy?.files).toHaveLength(20_000);
  });
  test("5,000 rules are all checked", () => {
    const rules = Array.from({ length: 5000 }, (_, i) => `  - path: /srv/data/f${i}\n    allow: [{executable: a, access: [read, write]}]`).join("\n");
    const r = checkPolicy(`version: 1\nexecutables: {a: {path: /a}}\nfiles:\n${rules}\n`, "p.yaml", { host: null });
    expect(r.policy?.files).toHaveLength(5000);
  });
});
