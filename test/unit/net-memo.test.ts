// A network section is compiled again only when something it depends on changed
// (src/compile/net-memo.ts); taken again, it is exactly what compiling it again would make, its
// origins those of the new text.
import { expect, test } from "bun:test";
import { batches, compile, type Compiled, type HostFacts } from "../../src/compile/compile.ts";
import { compileInputOf } from "../../src/compile/from-policy.ts";
import { RuleIds } from "../../src/compile/ids.ts";
import { parseCidr, type Cidr } from "../../src/policy/net.ts";
import { checkPolicy } from "../../src/policy/index.ts";

const inodes = new Map<string, bigint>();
const hostWith =
  (moved: Record<string, bigint> = {}): HostFacts =>
  (path) => {
    if (!inodes.has(path)) inodes.set(path, BigInt(inodes.size + 100));
    return { dev: 1, ino: moved[path] ?? inodes.get(path)!, type: "file" };
  };

/** A policy: `files` file rules above the network section, whose parts can be varied. */
function policyText(files: number, net: { kmsAddress?: string; kmsPorts?: string; confineMode?: string; allow?: string; hosts?: boolean } = {}): string {
  const lines = ["version: 1", "executables:", "  signer:", "    path: /usr/bin/signer", "  web:", "    path: /usr/bin/web", "files:"];
  for (let i = 0; i < files; i++) lines.push(`  - path: /srv/f${i}`, "    allow: [{ executable: signer, access: read }]");
  lines.push(
    "network:",
    "  default: deny",
    "  destinations:",
    "    kms:",
    `      addresses: [${net.kmsAddress ?? "192.0.2.10"}, "2001:db8::/48"]`,
    `      ports: [${net.kmsPorts ?? "443"}]`,
    `      allow: [${net.allow ?? "signer"}]`,
    "    mirror:",
    "      addresses: [198.51.100.0/24]",
    ...(net.hosts ? ["      hosts: [mirror.example]"] : []),
    "  confine:",
    "    - executable: web",
    "      to: [mirror]",
    ...(net.confineMode ? [`      mode: ${net.confineMode}`] : []),
  );
  return lines.join("\n") + "\n";
}

function compiled(text: string, before?: Compiled, host = hostWith(), resolved?: Map<string, Cidr[]>): Compiled {
  const { policy, diagnostics } = checkPolicy(text, "p.yaml", { host: null });
  if (!policy) throw new Error(JSON.stringify(diagnostics));
  const input = compileInputOf(policy);
  if (input.network && resolved) input.network.resolved = resolved;
  const r = compile({ ...input, ids: new RuleIds(before?.rules), ...(before?.network ? { networkBefore: before.network } : {}) }, host);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.compiled;
}

const view = (c: Compiled) => ({
  rules: c.rules.map((r) => [r.id, r.kind, r.path, r.mode, r.origin.line, r.origin.col]),
  entries: c.entries.map((e) => [e.map, Buffer.from(e.key).toString("hex"), Buffer.from(e.value).toString("hex"), e.origin.line, e.origin.col, e.note]),
  net: Buffer.from(c.net!).toString("hex"),
  warnings: c.warnings ?? [],
});

const cidr = (text: string) => {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};

test("lines above the section moved: taken again, with the new lines, as compiling it again makes it", () => {
  const first = compiled(policyText(5));
  const second = compiled(policyText(3), first);
  expect(second.network!.result).toBe(first.network!.result); // taken again, not compiled
  // The same as a compile without the memo (with the same ids): every rule, entry, origin and note.
  const fresh = compiled(policyText(3), { rules: first.rules } as Compiled);
  expect(fresh.network!.result).not.toBe(first.network!.result);
  expect(view(second)).toEqual(view(fresh));
  // The destination's rule names its new line (4 lines up: two file rules of two lines each).
  const kms = (c: Compiled) => c.rules.find((r) => r.path === "network.destinations.kms")!.origin.line;
  expect(kms(second)).toBe(kms(first) - 4);
  // And again from the memo of the memo.
  const third = compiled(policyText(4), second);
  expect(third.network!.result).toBe(first.network!.result);
  expect(view(third)).toEqual(view(compiled(policyText(4), { rules: second.rules } as Compiled)));
});

test("anything the section depends on changed: compiled again", () => {
  const first = compiled(policyText(2));
  const variants: [string, () => Compiled, () => Compiled][] = [
    ["an address", () => compiled(policyText(2, { kmsAddress: "192.0.2.11" }), first), () => compiled(policyText(2, { kmsAddress: "192.0.2.11" }), { rules: first.rules } as Compiled)],
    ["a port", () => compiled(policyText(2, { kmsPorts: "8443" }), first), () => compiled(policyText(2, { kmsPorts: "8443" }), { rules: first.rules } as Compiled)],
    ["an allow list", () => compiled(policyText(2, { allow: "signer, web" }), first), () => compiled(policyText(2, { allow: "signer, web" }), { rules: first.rules } as Compiled)],
    ["a confinement's mode", () => compiled(policyText(2, { confineMode: "monitor" }), first), () => compiled(policyText(2, { confineMode: "monitor" }), { rules: first.rules } as Compiled)],
    [
      "a named executable's inode",
      () => compiled(policyText(2), first, hostWith({ "/usr/bin/signer": 9999n })),
      () => compiled(policyText(2), { rules: first.rules } as Compiled, hostWith({ "/usr/bin/signer": 9999n })),
    ],
  ];
  for (const [what, withMemo, without] of variants) {
    const c = withMemo();
    expect([what, c.network!.result === first.network!.result]).toEqual([what, false]);
    expect([what, view(c)]).toEqual([what, view(without())]);
  }
});

test("a host name's addresses changed: compiled again; the same addresses: taken again", () => {
  const at = (...a: string[]) => new Map([["mirror.example", a.map(cidr)]]);
  const first = compiled(policyText(1, { hosts: true }), undefined, hostWith(), at("203.0.113.5/32"));
  const same = compiled(policyText(1, { hosts: true }), first, hostWith(), at("203.0.113.5/32"));
  expect(same.network!.result).toBe(first.network!.result);
  const moved = compiled(policyText(1, { hosts: true }), first, hostWith(), at("203.0.113.6/32"));
  expect(moved.network!.result).not.toBe(first.network!.result);
  expect(view(moved)).toEqual(view(compiled(policyText(1, { hosts: true }), { rules: first.rules } as Compiled, hostWith(), at("203.0.113.6/32"))));
  expect(view(moved).entries).not.toEqual(view(same).entries);
});

test("the section's maps are packed once: the same bytes as packing every entry, and the same object when taken again", () => {
  const first = compiled(policyText(3));
  const second = compiled(policyText(2), first);
  const hexOf = (bs: ReturnType<typeof batches>) => bs.map((b) => [b.map, b.count, Buffer.from(b.keys).toString("hex"), Buffer.from(b.values).toString("hex")]);
  for (const c of [first, second]) {
    expect(Object.keys(c.network!.packed).sort()).toEqual(["confined", "dests", "ports"]);
    expect(hexOf(batches(c.entries, c.network!.packed))).toEqual(hexOf(batches(c.entries)));
  }
  for (const map of ["dests", "ports", "confined"] as const) expect(second.network!.packed[map]).toBe(first.network!.packed[map]!);
  // Packed entries of a map that other entries also fill would lose those: refused as a bug.
  expect(() => batches(first.entries, { grants: first.network!.packed.dests })).toThrow(/packed entries for the grants map/);
});
