// The compiler is pure: fake host facts in, map entries out. Byte goldens are annotated field
// by field (little endian), so a change of layout or meaning shows up here first.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Access, Exe, ExeFlag, FileFlag, FileRule, InodeKey, Mode, envRulesValue, kernelDev } from "../../src/abi.ts";
import { compileInputOf, hostFacts } from "../../src/compile/from-policy.ts";
import { checkPolicy } from "../../src/policy/index.ts";
import { batches, compile, type Measured, type CompileInput, type ExecutableSpec, type FileRuleSpec, type HostFacts, type HostTrees } from "../../src/compile/compile.ts";

const self = import.meta.path;
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const at = (line: number, col = 5) => ({ file: "p.yaml", line, col });

const host: HostFacts = (path) =>
  ({
    "/srv/secret": { dev: (8 << 20) | 1, ino: 0x1234n, type: "file" as const },
    "/srv/link-to-secret": { dev: (8 << 20) | 1, ino: 0x1234n, type: "file" as const },
    "/srv/other": { dev: (8 << 20) | 1, ino: 0x99n, type: "file" as const },
    "/srv": { dev: (8 << 20) | 1, ino: 2n, type: "directory" as const },
    "/usr/bin/reader": { dev: (8 << 20) | 2, ino: 0x42n, type: "file" as const },
    "/usr/bin/writer": { dev: (8 << 20) | 2, ino: 0x43n, type: "file" as const },
  })[path] ?? null;

const rule = (path: string, line: number, allow: FileRuleSpec["allow"], mode: "enforce" | "monitor" = "enforce"): FileRuleSpec => ({
  path,
  mode,
  origin: at(line),
  allow,
});
const grant = (exePath: string, access: ("read" | "write")[], line: number) => ({ executable: exePath.split("/").pop()!, access, origin: at(line, 9) });

const exe = (path: string, line: number, inherit = true): ExecutableSpec => ({ name: path.split("/").pop()!, path, inherit, origin: at(line, 11), mode: "enforce" });
/** The executables every test names (lines 20-22), then the file rules under test. */
const policy = (files: FileRuleSpec[], executables = [exe("/usr/bin/reader", 20), exe("/usr/bin/writer", 21, false)]): CompileInput => ({ executables, files });
/** The entries of the file rules under test: not those of the named executables (their files' and the exes map's). */
const fileEntries = <T extends { map: string; note: string }>(entries: T[]) => entries.filter((e) => e.map !== "exes" && !e.note.startsWith("executable "));
const NO_DIGEST = "0".repeat(64);

test("one file, one reader: byte golden", () => {
  const r = compile(policy([rule("/srv/secret", 6, [grant("/usr/bin/reader", ["read"], 8)])]), host);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const { rules, entries } = r.compiled;
  expect(rules).toEqual([
    { id: 0, kind: "file", path: "/srv/secret", origin: at(6), inode: { dev: (8 << 20) | 1, ino: 0x1234n }, mode: "enforce" },
    // The named executables follow every file rule: each is a rule, for events and for its file.
    // reader holds a grant: it is protected while it runs (writer holds none here).
    { id: 1, kind: "executable", path: "/usr/bin/reader", origin: at(20, 11), inode: { dev: (8 << 20) | 2, ino: 0x42n }, mode: "enforce", runtime: true, untraceable: true },
    { id: 2, kind: "executable", path: "/usr/bin/writer", origin: at(21, 11), inode: { dev: (8 << 20) | 2, ino: 0x43n }, mode: "enforce" },
  ]);
  expect(entries.map((e) => [e.map, hex(e.key), hex(e.value), e.origin.line])).toEqual([
    [
      "files",
      // bf_inode_key: ino u64 = 0x1234 | dev u32 = 8:1 (0x00800001) | pad u32
      "3412000000000000" + "01008000" + "00000000",
      // bf_file_rule: rule_id u32 = 0 | mode u32 = ENFORCE (0) | guards u32 = READ|WRITE (3) | pad u32
      "00000000" + "00000000" + "03000000" + "00000000",
      6,
    ],
    [
      "grants",
      // bf_grant_key: rule_id u32 = 0 | dev u32 = 8:2 (0x00800002) | ino u64 = 0x42
      "00000000" + "02008000" + "4200000000000000",
      // bf_grant: access u32 = READ (1) | pad u32
      "01000000" + "00000000",
      8,
    ],
    [
      "files",
      // reader's own file: ino 0x42, dev 8:2 | rule 1, ENFORCE, guards WRITE (2) only: immutable, readable
      "4200000000000000" + "02008000" + "00000000",
      "01000000" + "00000000" + "02000000" + "00000000",
      20,
    ],
    [
      "exes",
      // bf_inode_key: ino u64 = 0x42 | dev u32 = 8:2 (0x00800002) | pad u32
      "4200000000000000" + "02008000" + "00000000",
      // bf_exe: flags u32 = INHERIT (1) | SECURE_EXEC (8) | PTRACE (32) | rule_id u32 = 1 | digest (none) 4 x u64
      "29000000" + "01000000" + NO_DIGEST,
      20,
    ],
    ["files", "4300000000000000" + "02008000" + "00000000", "02000000" + "00000000" + "02000000" + "00000000", 21],
    [
      "exes",
      // writer: ino 0x43, dev 8:2; flags 0 (inherit: false), rule 2
      "4300000000000000" + "02008000" + "00000000",
      "00000000" + "02000000" + NO_DIGEST,
      21,
    ],
  ]);
});

test("monitor mode and merged grants for one executable", () => {
  const r = compile(
    policy([rule("/srv/secret", 3, [grant("/usr/bin/reader", ["read"], 5), grant("/usr/bin/reader", ["write"], 6)], "monitor")]),
    host,
  );
  if (!r.ok) throw new Error("expected ok");
  const [file, g] = fileEntries(r.compiled.entries) as typeof r.compiled.entries;
  expect(hex(file!.value)).toBe("00000000" + "01000000" + "03000000" + "00000000"); // rule 0, MONITOR (1), guards READ|WRITE
  expect(fileEntries(r.compiled.entries).length).toBe(2); // one grant entry, not two
  expect(hex(g!.value)).toBe("03000000" + "00000000"); // READ | WRITE
});

test("merged grants in a long allow list (over 16 grants)", () => {
  // reader, then writer 15 times, then reader again: one entry each, reader's access merged.
  const allow = [grant("/usr/bin/reader", ["read"], 5), ...Array.from({ length: 15 }, (_, i) => grant("/usr/bin/writer", ["write"], 6 + i)), grant("/usr/bin/reader", ["write"], 30)];
  const r = compile(policy([rule("/srv/secret", 3, allow)]), host);
  if (!r.ok) throw new Error("expected ok");
  const grants = fileEntries(r.compiled.entries).filter((e) => e.map === "grants");
  expect(grants.map((g) => [g.note.split(" ")[2], hex(g.value)])).toEqual([
    ["reader", "03000000" + "00000000"], // READ | WRITE
    ["writer", "02000000" + "00000000"], // WRITE
  ]);
});

test("rule ids follow the order of the rules and map back to their lines", () => {
  const r = compile(
    policy([rule("/srv/secret", 3, [grant("/usr/bin/reader", ["read"], 5)]), rule("/srv/other", 7, [grant("/usr/bin/writer", ["write"], 9)])]),
    host,
  );
  if (!r.ok) throw new Error("expected ok");
  expect(r.compiled.rules.map((x) => [x.id, x.origin.line])).toEqual([
    [0, 3],
    [1, 7],
    [2, 20],
    [3, 21],
  ]);
  const grantForRule1 = r.compiled.entries.find((e) => e.map === "grants" && e.origin.line === 9)!;
  expect(hex(grantForRule1.key).slice(0, 8)).toBe("01000000"); // rule_id 1
});

describe("problems name the line and never produce entries", () => {
  test("missing protected file", () => {
    const r = compile(policy([rule("/srv/missing", 4, [grant("/usr/bin/reader", ["read"], 6)])]), host);
    expect(r.ok).toBe(false);
    if (r.ok) throw new Error("a missing file compiled");
    expect(r.problems).toEqual([
      expect.objectContaining({ origin: at(4), message: 'Cannot protect "/srv/missing": path does not exist on this host' }),
    ]);
  });
  test("missing executable", () => {
    const r = compile(policy([rule("/srv/secret", 4, [grant("/usr/bin/nope", ["read"], 6)])], [exe("/usr/bin/nope", 22)]), host);
    expect(!r.ok && r.problems[0]!.message).toBe('Cannot identify executable "nope": "/usr/bin/nope" does not exist on this host');
    expect(!r.ok && r.problems[0]!.origin.line).toBe(22);
  });
  test("a directory nothing walked is a bug reported, never a directory half-protected", () => {
    const r = compile(policy([rule("/srv", 2, [grant("/usr/bin/reader", ["read"], 3)])]), host);
    expect(!r.ok && r.problems[0]!.message).toContain("nothing walked it");
  });
  test("a path written with a trailing slash that is a file is refused", () => {
    const r = compile(policy([rule("/srv/secret/", 2, [])]), (p, role) => host(p === "/srv/secret/" ? "/srv/secret" : p, role), undefined, walked({}));
    expect(!r.ok && [r.problems[0]!.message, r.problems[0]!.origin.line]).toEqual(['Cannot protect "/srv/secret/": it ends with "/" but is a file on this host', 2]);
  });
  test("a tree larger than the maps hold is refused at the rule's line", () => {
    const r = compile(policy([rule("/srv", 7, [])]), host, undefined, () => ({ ok: false, why: "more than 262144 files and directories are below it" }));
    expect(!r.ok && [r.problems[0]!.message, r.problems[0]!.origin.line]).toEqual(['Cannot protect the directory "/srv": more than 262144 files and directories are below it', 7]);
  });
  test("trees that fit one by one but not together are refused, with what fits", () => {
    const big = walked({ "/srv": Array.from({ length: 200_000 }, (_, i): [number, boolean] => [1000 + i, false]), "/srv/other": Array.from({ length: 70_000 }, (_, i): [number, boolean] => [300_000 + i, false]) });
    const twoDirs: HostFacts = (p, role) => (p === "/srv/other" ? { dev: (8 << 20) | 1, ino: 3n, type: "directory" } : host(p, role));
    const r = compile(policy([rule("/srv", 7, []), rule("/srv/other", 9, [])]), twoDirs, undefined, big);
    expect(!r.ok && r.problems.map((p) => [p.origin.line, p.message])).toEqual([[7, 'Cannot protect the directory "/srv": 200000 files and directories are below it, and 192140 more fit']]);
  });
  test("two rules for one inode (a hard link) are refused", () => {
    const r = compile(
      policy([rule("/srv/secret", 2, [grant("/usr/bin/reader", ["read"], 3)]), rule("/srv/link-to-secret", 5, [grant("/usr/bin/writer", ["write"], 6)])]),
      host,
    );
    expect(!r.ok && r.problems[0]!.message).toContain('is the same file as "/srv/secret" (line 2)');
  });
  test("inode numbers past 2^53 are told apart exactly (and one file twice is still found)", () => {
    const big = 2n ** 60n;
    const huge: HostFacts = (p, role) =>
      p === "/srv/a" ? { dev: 9, ino: big, type: "file" } : p === "/srv/b" ? { dev: 9, ino: big + 1n, type: "file" } : p === "/srv/c" ? { dev: 9, ino: big, type: "file" } : host(p, role);
    // As doubles, 2^60 and 2^60 + 1 are one number.
    expect(Number(big)).toBe(Number(big + 1n));
    const apart = compile(policy([rule("/srv/a", 2, []), rule("/srv/b", 4, [])]), huge);
    expect(apart.ok).toBe(true);
    const same = compile(policy([rule("/srv/a", 2, []), rule("/srv/c", 4, [])]), huge);
    expect(!same.ok && same.problems[0]!.message).toContain('is the same file as "/srv/a" (line 2)');
  });
  test("every problem at once", () => {
    const r = compile(policy([rule("/srv/missing", 2, []), rule("/srv/secret", 4, [grant("/usr/bin/nope", ["read"], 5)])], [exe("/usr/bin/nope", 22)]), host);
    expect(!r.ok && r.problems.map((p) => p.origin.line)).toEqual([22, 2]);
  });
  test("two names for one program are refused", () => {
    const r = compile(policy([], [exe("/usr/bin/reader", 20), { ...exe("/usr/bin/reader", 21), name: "alias" }]), host);
    expect(!r.ok && r.problems[0]!.message).toContain('is the same file as executable "reader"');
  });
});

/** A fake walk: the entries below each directory, as walkTree lists them. */
const walked =
  (trees: Record<string, [number, boolean][]>): HostTrees =>
  (root) => ({
    ok: true,
    entries: (trees[root] ?? []).map(([ino, dir]) => ({ path: `${root}/${ino}`, dev: (8 << 20) | 1, ino: BigInt(ino), dir, openable: true, seen: `1:${ino}`, stDev: 1n })),
    dirs: [],
    rootDev: 1n,
    rootIno: 2n,
    statDev: 1n,
  });

describe("protected directories", () => {
  const dirHost: HostFacts = (path, role) =>
    ({
      "/data": { dev: (8 << 20) | 1, ino: 10n, type: "directory" as const },
      "/data/models": { dev: (8 << 20) | 1, ino: 20n, type: "directory" as const },
      "/data/key": { dev: (8 << 20) | 1, ino: 30n, type: "file" as const },
      "/data/bin/tool": { dev: (8 << 20) | 1, ino: 40n, type: "file" as const },
    })[path] ?? host(path, role);
  // /data holds models/ (20) with two files (21, 22), key (30), bin/ (39) with tool (40), and a file 11.
  const trees = walked({
    "/data": [[20, true], [21, false], [22, false], [30, false], [39, true], [40, false], [11, false]],
    "/data/models": [[21, false], [22, false]],
  });
  const byIno = (entries: { map: string; key: Uint8Array; value: Uint8Array }[]) =>
    Object.fromEntries(
      entries.filter((e) => e.map === "files").map((e) => {
        const v = FileRule.decode(e.value);
        return [String(InodeKey.decode(e.key).ino), `rule ${v.rule_id} guards ${v.guards} flags ${v.flags}`];
      }),
    );

  test("the directory is the rule's root, everything below takes its rule; the most specific rule decides", () => {
    const r = compile(
      policy(
        [
          rule("/data/", 2, [grant("/usr/bin/reader", ["read"], 3)]),
          rule("/data/key", 4, [grant("/usr/bin/writer", ["write"], 5)]),
          rule("/data/models/", 6, [grant("/usr/bin/writer", ["read"], 7)], "monitor"),
        ],
        [exe("/usr/bin/reader", 20), exe("/usr/bin/writer", 21, false), exe("/data/bin/tool", 22)],
      ),
      (p, role) => dirHost(p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p, role),
      undefined,
      (root) => trees(root.replace(/\/$/, "")),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.compiled.rules.slice(0, 3).map((x) => [x.id, x.path, x.tree ?? false])).toEqual([
      [0, "/data/", true],
      [1, "/data/key", false],
      [2, "/data/models/", true],
    ]);
    const tree = FileFlag.TREE;
    const root = FileFlag.TREE | FileFlag.ROOT;
    const rw = Access.READ | Access.WRITE;
    expect(byIno(r.compiled.entries)).toEqual({
      "10": `rule 0 guards ${rw} flags ${root}`,
      "20": `rule 2 guards ${rw} flags ${root}`, // a rule's own directory, inside another
      "21": `rule 2 guards ${rw} flags ${tree}`, // below it: the deeper rule
      "22": `rule 2 guards ${rw} flags ${tree}`,
      "30": `rule 1 guards ${rw} flags 0`, // a file rule inside: its own rule
      "39": `rule 0 guards ${rw} flags ${tree}`,
      "40": `rule 0 guards ${Access.WRITE} flags ${tree}`, // a named executable below: running it stays open
      "11": `rule 0 guards ${rw} flags ${tree}`,
      "66": `rule 3 guards ${Access.WRITE} flags 0`, // reader's own file, outside
      "67": `rule 4 guards ${Access.WRITE} flags 0`,
    });
    // apply labels what appears later with each tree's child value (deepest directory first)
    expect(r.compiled.trees!.map((t) => [t.rule.id, FileRule.decode(t.child).flags, FileRule.decode(t.child).mode])).toEqual([
      [2, tree, Mode.MONITOR],
      [0, tree, Mode.ENFORCE],
    ]);
  });
});

describe("states the checker excludes are bugs, never skipped", () => {
  test("a grant to a name that is not an executable of the input throws", () => {
    expect(() => compile(policy([rule("/srv/secret", 4, [grant("/usr/bin/ghost", ["read"], 6)])]), host)).toThrow(
      'Bug: grant to "ghost", which is not an executable of the compiler\'s input (p.yaml:6)',
    );
  });
  test("more entries than a kernel map holds throws", () => {
    const many: HostFacts = (path, role) => (path.startsWith("/usr/bin/") ? host(path, role) : { dev: 1, ino: BigInt(path.slice(5)), type: "file" });
    const files = Array.from({ length: 262_145 }, (_, i) => rule(`/srv/${i + 1}`, 2, []));
    expect(() => compile(policy(files), many)).toThrow("Bug: 262147 entries for the files map, which holds 262144"); // and the two executables' files
  });
});

test("batches lay keys and values back to back per map", () => {
  const r = compile(policy([rule("/srv/secret", 3, [grant("/usr/bin/reader", ["read"], 5), grant("/usr/bin/writer", ["write"], 6)])]), host);
  if (!r.ok) throw new Error("expected ok");
  const b = batches(r.compiled.entries);
  expect(b.map((x) => [x.map, x.count, x.keys.length, x.values.length])).toEqual([
    ["exes", 2, 32, 80],
    ["files", 3, 48, 48],
    ["grants", 2, 32, 16],
  ]);
  // Each map's entries, in the order compiled, their bytes back to back.
  for (const x of b) {
    const mine = r.compiled.entries.filter((e) => e.map === x.map);
    expect(hex(x.keys)).toBe(mine.map((e) => hex(e.key)).join(""));
    expect(hex(x.values)).toBe(mine.map((e) => hex(e.value)).join(""));
  }
});

describe("host facts", () => {

  test("stat's st_dev converted to the kernel's encoding when the kernel was not asked", () => {
    const s = statSync(self, { bigint: true });
    expect(hostFacts(self, "file")).toEqual({ dev: kernelDev(s.dev), ino: s.ino, type: "file" });
  });
  test("the kernel's own inode key wins over stat's (btrfs subvolumes differ)", () => {
    const s = statSync(self, { bigint: true });
    expect(hostFacts(self, "file", () => ({ dev: 0x2a, ino: s.ino }))).toEqual({ dev: 0x2a, ino: s.ino, type: "file" });
  });
  test("directories and missing paths", () => {
    expect(hostFacts(import.meta.dir, "file")?.type).toBe("directory");
    expect(hostFacts("/nonexistent/bomfather", "file")).toBeNull();
  });
});

test("a script named as an executable is refused: the kernel sees its interpreter", () => {
  const dir = mkdtempSync(join(tmpdir(), "bomfather-script-"));
  const script = join(dir, "deploy.sh");
  writeFileSync(script, "#!/bin/sh -e\necho deploying\n");
  expect(hostFacts(script, "executable")?.interpreter).toBe("/bin/sh");
  expect(hostFacts(self, "executable")?.interpreter).toBeUndefined();
  expect(hostFacts(script, "file")?.interpreter).toBeUndefined(); // protected files are not read
  const r = compile(policy([], [exe(script, 20)]), hostFacts);
  expect(!r.ok && r.problems[0]!.message).toBe(
    `Executable "deploy.sh": "${script}" is a script run by "/bin/sh", and the kernel knows a running script as its interpreter: a grant to "deploy.sh" would never apply`,
  );
  expect(!r.ok && r.problems[0]!.origin.line).toBe(20);
});

describe("the agent's own files", () => {
  const agent = (guarded: { path: string; type: "file" | "directory"; builtin?: string; line: number }[], mode: "enforce" | "monitor" = "enforce") => ({
    exe: "/usr/bin/writer",
    mode,
    guarded: guarded.map((g) => ({ path: g.path, type: g.type, builtin: g.builtin, origin: at(g.line) })),
  });

  test("a guarded file and directory: writing needs the agent, reading is open (byte golden)", () => {
    const r = compile({ ...policy([]), agent: agent([{ path: "/srv/other", type: "file", builtin: "the policy file", line: 0 }, { path: "/srv", type: "directory", line: 30 }]) }, host);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.compiled.rules.map((x) => [x.id, x.kind, x.path, x.builtin])).toEqual([
      [0, "guard", "/srv/other", "the policy file"],
      [1, "guard", "/srv", undefined],
      [2, "executable", "/usr/bin/reader", undefined],
      [3, "executable", "/usr/bin/writer", undefined],
    ]);
    expect(fileEntries(r.compiled.entries).map((e) => [e.map, hex(e.key), hex(e.value)])).toEqual([
      // /srv/other: ino 0x99, dev 8:1 | rule 0, ENFORCE, guards WRITE (2) only
      ["files", "9900000000000000" + "01008000" + "00000000", "00000000" + "00000000" + "02000000" + "00000000"],
      // grant: rule 0, the agent's binary (writer: dev 8:2, ino 0x43) may WRITE (2)
      ["grants", "00000000" + "02008000" + "4300000000000000", "02000000" + "00000000"],
      // the directory /srv: ino 2 | rule 1, guards WRITE
      ["files", "0200000000000000" + "01008000" + "00000000", "01000000" + "00000000" + "02000000" + "00000000"],
      ["grants", "01000000" + "02008000" + "4300000000000000", "02000000" + "00000000"],
    ]);
  });

  test("a file a policy rule protects keeps that rule, and the agent may read and write it", () => {
    const r = compile({ ...policy([rule("/srv/secret", 6, [grant("/usr/bin/reader", ["read"], 8)])]), agent: agent([{ path: "/srv/link-to-secret", type: "file", line: 40 }]) }, host);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.compiled.rules.filter((x) => x.kind !== "executable").length).toBe(1);
    const grants = r.compiled.entries.filter((e) => e.map === "grants").map((e) => [hex(e.key), hex(e.value)]);
    expect(grants).toContainEqual(["00000000" + "02008000" + "4300000000000000", "03000000" + "00000000"]);
  });

  test("a guarded path missing on the host is a problem at its line", () => {
    const r = compile({ ...policy([]), agent: agent([{ path: "/srv/missing", type: "file", line: 41 }]) }, host);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => [p.origin.line, p.message])).toEqual([[41, 'Cannot guard "/srv/missing" for the agent: it does not exist on this host']]);
  });

  test("monitor mode reaches the guard rules", () => {
    const r = compile({ ...policy([]), agent: agent([{ path: "/srv/other", type: "file", line: 42 }], "monitor") }, host);
    if (!r.ok) throw new Error("expected ok");
    expect(hex(fileEntries(r.compiled.entries)[0]!.value)).toBe("00000000" + "01000000" + "02000000" + "00000000");
  });
});

describe("named executables: immutable files, identity in events, digests", () => {
  const D = "ab".repeat(32);
  const pinned = (path: string, line: number, hex = D): ExecutableSpec => ({ ...exe(path, line), digest: { hex, origin: at(line + 1, 13) } });

  test("a policy rule on the executable's file names who may update it: no second entry, and the rule says so", () => {
    const r = compile(policy([rule("/usr/bin/reader", 4, [grant("/usr/bin/writer", ["write"], 5)])]), host);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const reader = r.compiled.rules.find((x) => x.kind === "executable" && x.path === "/usr/bin/reader")!;
    expect(reader.coveredBy).toBe(0);
    const readerFile = r.compiled.entries.filter((e) => e.map === "files" && hex(e.key).startsWith("42000000"));
    // rule 0, guards WRITE only: everyone may still run (read) the program
    expect(readerFile.map((e) => hex(e.value))).toEqual(["00000000" + "00000000" + "02000000" + "00000000"]);
    expect(r.compiled.rules[0]!.writeOnly).toBe(true);
  });

  test("monitor mode reaches the executables' files", () => {
    const r = compile(policy([], [{ ...exe("/usr/bin/reader", 20), mode: "monitor" }]), host);
    if (!r.ok) throw new Error("expected ok");
    expect(r.compiled.entries.filter((e) => e.map === "files").map((e) => hex(e.value))).toEqual(["00000000" + "01000000" + "02000000" + "00000000"]);
  });

  test("a digest that holds: DIGEST | MEASURED and the digest's words, little-endian", () => {
    const hexDigest = "00112233445566778899aabbccddeeff" + "f".repeat(32);
    const r = compile(policy([], [pinned("/usr/bin/reader", 20, hexDigest)]), host, () => ({ kind: "digest", hex: hexDigest }));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const e = r.compiled.entries.find((x) => x.map === "exes")!;
    // flags INHERIT|DIGEST|MEASURED (7), rule 0, then the 32 bytes in order
    expect(hex(e.value)).toBe("07000000" + "00000000" + hexDigest);
  });

  test("runtime protection by default for a program that holds a grant; monitor mode carried", () => {
    const r = compile(policy([rule("/srv/secret", 6, [grant("/usr/bin/writer", ["read"], 8)])], [exe("/usr/bin/reader", 20), { ...exe("/usr/bin/writer", 21, false), mode: "monitor" }]), host);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const flags = r.compiled.entries.filter((e) => e.map === "exes").map((e) => Exe.decode(e.value).flags);
    expect(flags).toEqual([ExeFlag.INHERIT, ExeFlag.SECURE_EXEC | ExeFlag.MONITOR | ExeFlag.PTRACE | ExeFlag.PTRACE_MONITOR]);
  });

  const refused = (m: Measured) => {
    const r = compile(policy([], [pinned("/usr/bin/reader", 20)]), host, () => m);
    if (r.ok) throw new Error("a digest that does not hold compiled");
    expect(r.problems.length).toBe(1);
    expect(r.problems[0]!.origin.line).toBe(21); // the digest's line
    return r.problems[0]!;
  };
  test("another digest: both in the message", () => {
    const p = refused({ kind: "digest", hex: "cd".repeat(32) });
    expect(p.message).toBe(`Executable "reader": "/usr/bin/reader" has fs-verity digest sha256:${"cd".repeat(32)}, and the policy pins sha256:${D}`);
    expect(p.kernel).toBe(false);
  });
  test("no fs-verity on the file, or on its file system: the file's problem", () => {
    expect(refused({ kind: "none" }).message).toContain("has no fs-verity digest");
    expect(refused({ kind: "none" }).hint).toContain("fsverity enable /usr/bin/reader");
    expect(refused({ kind: "unsupported", why: "its file system has no fs-verity" }).kernel).toBe(false);
  });
  test("a kernel that cannot measure: the kernel's problem", () => {
    const p = refused({ kind: "kernel", why: "this kernel has no fs-verity (CONFIG_FS_VERITY)" });
    expect(p.kernel).toBe(true);
    expect(p.message).toContain("cannot be verified on this host");
  });
  test("a pinned digest nobody measured is a bug, never a pass", () => {
    expect(() => compile(policy([], [pinned("/usr/bin/reader", 20)]), host)).toThrow("Bug: executable \"reader\" is pinned by digest and nothing measured it");
  });
});

describe("the runtime section", () => {
  test("ptrace protects the programs it names, with its own mode; tracers and fileless allow are flags; fileless is the policy entry", () => {
    const r = compile(
      {
        ...policy([], [exe("/usr/bin/reader", 20), exe("/usr/bin/writer", 21)]),
        runtime: { ptrace: { protect: ["reader"], tracers: ["writer"], mode: "monitor", origin: at(30) }, fileless: { allow: ["writer"], mode: "enforce", origin: at(34) } },
      },
      host,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const exes = r.compiled.entries.filter((e) => e.map === "exes").map((e) => [hex(e.key).slice(0, 16), Exe.decode(e.value).flags, e.origin.line]);
    expect(exes).toEqual([
      ["4200000000000000", ExeFlag.INHERIT | ExeFlag.PTRACE | ExeFlag.PTRACE_MONITOR, 20],
      ["4300000000000000", ExeFlag.INHERIT | ExeFlag.TRACER | ExeFlag.FILELESS_OK, 21],
      ["0000000000000000", ExeFlag.FILELESS_ON, 34], // the policy entry: inode 0, rule runtime.fileless
    ]);
    const fileless = r.compiled.rules.find((x) => x.kind === "runtime")!;
    expect([fileless.path, fileless.origin.line]).toEqual(["runtime.fileless", 34]);
    expect(Exe.decode(r.compiled.entries.at(-1)!.value).rule_id).toBe(fileless.id);
  });
});

describe("runtime.environment", () => {
  const env = (action: "deny" | "neutralise", mode: "enforce" | "monitor" = "enforce") => ({
    environment: { variables: ["LD_*", "GLIBC_TUNABLES", "NODE_OPTIONS"], action, protect: ["writer"], mode, origin: at(30) },
  });
  const flagsOf = (r: ReturnType<typeof compile>) => (r.ok ? r.compiled.entries.filter((e) => e.map === "exes").map((e) => Exe.decode(e.value).flags) : []);

  test("deny: secure-execution mode and the scan for the programs it names; the kernel's patterns", () => {
    const r = compile({ ...policy([]), runtime: env("deny") }, host);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(flagsOf(r)).toEqual([ExeFlag.INHERIT, ExeFlag.SECURE_EXEC | ExeFlag.ENV_DENY]);
    // A prefix without its "*", a name with its "=": a variable matches from its first byte.
    expect(r.compiled.envPatterns).toEqual(["LD_", "GLIBC_TUNABLES=", "NODE_OPTIONS="]);
  });
  test("neutralise: secure-execution mode only", () => {
    expect(flagsOf(compile({ ...policy([]), runtime: env("neutralise") }, host))).toEqual([ExeFlag.INHERIT, ExeFlag.SECURE_EXEC]);
  });
  test("monitor: the scan reports, nothing is changed", () => {
    expect(flagsOf(compile({ ...policy([]), runtime: env("deny", "monitor") }, host))).toEqual([ExeFlag.INHERIT, ExeFlag.ENV_DENY | ExeFlag.ENV_MONITOR]);
  });
  test("no section: no patterns", () => {
    const r = compile(policy([]), host);
    expect(r.ok && r.compiled.envPatterns).toBeUndefined();
  });
  test("the kernel's value: the count, each pattern NUL-padded to its slot, and a mask under its bytes", () => {
    const v = envRulesValue(["LD_", "NODE_OPTIONS="]);
    expect(v.length).toBe(8 + 2 * 16 * 32);
    expect(hex(v.subarray(0, 8))).toBe("02000000" + "00000000");
    expect(Buffer.from(v.subarray(8, 11)).toString()).toBe("LD_");
    expect(v[11]).toBe(0);
    expect(Buffer.from(v.subarray(40, 53)).toString()).toBe("NODE_OPTIONS=");
    const masks = 8 + 16 * 32;
    expect(hex(v.subarray(masks, masks + 8))).toBe("ffffff0000000000");
    expect(hex(v.subarray(masks + 32, masks + 48))).toBe("ff".repeat(13) + "000000");
  });
});

test("a checked policy's rules and grants carry the file, line and column they were written at", () => {
  const text = [
    "version: 1",
    "executables:",
    "  reader:",
    "    path: /usr/bin/reader",
    "  writer:",
    "    path: /usr/bin/writer",
    "files:",
    "  - path: /srv/secret",
    "    allow:",
    "      - executable: reader",
    "        access: read",
    "      - executable: writer",
    "        access: [read, write]",
    "",
  ].join("\n");
  const { policy } = checkPolicy(text, "p.yaml", { host: null });
  if (!policy) throw new Error("expected the policy to check");
  const [rule] = compileInputOf(policy).files;
  expect(rule!.origin).toEqual({ file: "p.yaml", line: 8, col: 11 });
  expect(rule!.allow.map((g) => [g.executable, g.access, g.origin])).toEqual([
    ["reader", ["read"], { file: "p.yaml", line: 10, col: 9 }],
    ["writer", ["read", "write"], { file: "p.yaml", line: 12, col: 9 }],
  ]);
});

test("a path whose kernel name does not last (an overlay with layers on several file systems) is refused, saying why", () => {
  const why = 'it is on the overlay file system mounted on "/srv", whose layers lie on different file systems';
  const unsound: HostFacts = (path, role) => {
    const facts = host(path, role);
    return facts && (path === "/srv/secret" || path === "/usr/bin/writer") ? { ...facts, unsound: { why, hint: "keep it elsewhere" } } : facts;
  };
  const r = compile(policy([rule("/srv/secret", 6, [grant("/usr/bin/reader", ["read"], 8)]), rule("/srv/other", 9, [])]), unsound);
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.problems.map((p) => [p.origin.line, p.message])).toEqual([
    [21, `Cannot identify executable "writer": "/usr/bin/writer": ${why}`],
    [6, `Cannot protect "/srv/secret": ${why}`],
  ]);
  expect(r.problems.map((p) => p.hint)).toEqual(["keep it elsewhere", "keep it elsewhere"]);
});
