// Rule ids across generations (src/compile/ids.ts): a rule the generation in force has too keeps its
// id, so a map whose rules did not change keeps its bytes, and apply leaves it as it is.
import { expect, test } from "bun:test";
import { batches, compile, type CompileInput, type HostFacts } from "../../src/compile/compile.ts";
import { RuleIds, ruleWithId } from "../../src/compile/ids.ts";
import { parseCidr } from "../../src/policy/net.ts";

const at = (line: number) => ({ file: "p.yaml", line, col: 5 });
const inodes = new Map<string, bigint>();
const host: HostFacts = (path) => {
  if (!inodes.has(path)) inodes.set(path, BigInt(inodes.size + 100));
  return { dev: 1, ino: inodes.get(path)!, type: "file" };
};
const cidr = (text: string) => {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};

/** A policy: file rules on `files` (each granted to reader), two executables, two destinations (every port; 443), one confinement. */
function input(files: string[], ids?: RuleIds): CompileInput {
  const exe = (name: string, line: number) => ({ name, path: `/usr/bin/${name}`, inherit: true, origin: at(line), mode: "enforce" as const });
  const dest = (name: string, address: string, line: number, ports: { lo: number; hi: number }[]) => ({
    name,
    addresses: [{ cidr: cidr(address), origin: at(line) }],
    hosts: [],
    ports,
    protocols: ["tcp" as const, "udp" as const],
    mode: "enforce" as const,
    origin: at(line),
  });
  return {
    executables: [exe("reader", 1), exe("curl", 2)],
    files: files.map((path, i) => ({ path, mode: "enforce", origin: at(10 + i), allow: [{ executable: "reader", access: ["read"], origin: at(10 + i) }] })),
    network: {
      default: "deny",
      mode: "enforce",
      origin: at(100),
      destinations: [dest("api", "192.0.2.0/24", 101, []), dest("mirror", "2001:db8::/32", 102, [{ lo: 443, hi: 443 }])],
      confine: [{ executable: "curl", to: ["api"], mode: "enforce", origin: at(103) }],
    },
    ...(ids ? { ids } : {}),
  };
}

function compiled(files: string[], ids?: RuleIds) {
  const r = compile(input(files, ids), host);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.compiled;
}

const bytesOf = (c: ReturnType<typeof compiled>) =>
  Object.fromEntries(batches(c.entries).map((b) => [b.map, Buffer.concat([b.keys, b.values]).toString("hex")]));

test("without a generation in force, rules are numbered in order from 0", () => {
  const ids = new RuleIds();
  expect([ids.id("file", "/a"), ids.id("file", "/b"), ids.id("executable", "/a")]).toEqual([0, 1, 2]);
  const c = compiled(["/srv/a", "/srv/b"]);
  expect(c.rules.map((r) => r.id)).toEqual(c.rules.map((_, i) => i));
});

test("a rule the generation in force has keeps its id; a new one takes an id no rule in force has", () => {
  const before = [
    { id: 0, kind: "file" as const, path: "/a" },
    { id: 1, kind: "file" as const, path: "/b" },
    { id: 2, kind: "executable" as const, path: "/usr/bin/x" },
  ];
  const ids = new RuleIds(before);
  expect(ids.id("executable", "/usr/bin/x")).toBe(2);
  expect(ids.id("file", "/new")).toBe(3); // not 0: /a's id, which the generation in force still has
  expect(ids.id("file", "/b")).toBe(1);
  // The same path under another kind is another rule; a key given twice gets a fresh id the second time.
  expect(ids.id("guard", "/b")).toBe(4);
  expect(ids.id("file", "/b")).toBe(5);
});

test("one file rule removed at the top: every other rule keeps its id, and the executables, destinations and confinements keep their bytes", () => {
  const files = Array.from({ length: 20 }, (_, i) => `/srv/f${i}`);
  const first = compiled(files);
  const second = compiled(files.slice(1), new RuleIds(first.rules));
  const idOf = (c: typeof first) => new Map(c.rules.map((r) => [`${r.kind} ${r.path}`, r.id]));
  const a = idOf(first);
  for (const [k, id] of idOf(second)) expect([k, id]).toEqual([k, a.get(k)!]);
  const [x, y] = [bytesOf(first), bytesOf(second)];
  for (const map of ["exes", "dests", "ports", "confined"]) expect([map, y[map]]).toEqual([map, x[map]]);
  expect(y.files).not.toEqual(x.files);
  expect(y.grants).not.toEqual(x.grants);
  // Numbered by position (no ids from the generation in force), every entry naming a later rule changes.
  const renumbered = bytesOf(compiled(files.slice(1)));
  for (const map of ["exes", "dests", "ports", "confined"]) expect([map, renumbered[map] === x[map]]).toEqual([map, false]);
  // And the rule added back takes the id it had: no rule of the generation in force has it.
  const third = compiled(files, new RuleIds(second.rules));
  expect(bytesOf(third)).toEqual(x);
});

test("ruleWithId finds a rule by id, positional or not", () => {
  const rules = [{ id: 0 }, { id: 5 }, { id: 2 }];
  expect(ruleWithId(rules, 0)).toBe(rules[0]!);
  expect(ruleWithId(rules, 5)).toBe(rules[1]!);
  expect(ruleWithId(rules, 2)).toBe(rules[2]!);
  expect(ruleWithId(rules, 1)).toBeUndefined();
  expect(ruleWithId(undefined, 0)).toBeUndefined();
});
