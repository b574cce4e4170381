// A network section compiled once is not compiled again while nothing it depends on changed. A
// reload mostly changes file rules; compiling 10,000 addresses again to the same entries took
// about half of the compile stage of a reload in the bench's VM. What the section compiles to
// depends on the section itself (origins aside), the addresses its host names resolve to now, the
// inodes of the executables it names, and the ids of its rules (kept across generations:
// src/compile/ids.ts). When all are those of the generation in force, its rules and entries are
// taken again, each with the origin of the same place in the new text (lines above the section
// may have moved it).
import type { CompileProblem, MapEntry, Origin, RuleInfo } from "./compile.ts";
import type { RuleIds } from "./ids.ts";
import type { Cidr } from "../policy/net.ts";
import type { MapName } from "../abi.ts";
import { batches, type Batch } from "./batches.ts";
import { compileNetwork, entryAt, type CompiledNetwork, type NetExe, type NetworkSpec } from "./net.ts";

/** What a network section compiled to, for the next compile (Compiled.network). */
export interface NetworkMemo {
  /** Everything the section's entries depend on, origins aside. */
  signature: string;
  /** Its rules and entries, each with the index of its origin in originsOf(spec). */
  rules: { rule: RuleInfo; at: number }[];
  entries: { entry: MapEntry; at: number }[];
  result: CompiledNetwork;
  /** The maps only this section fills (addresses, ports, confinements), packed once for the kernel (src/compile/batches.ts). */
  packed: Partial<Record<MapName, Batch>>;
}

/** The maps whose every entry comes from the network section. */
const NETWORK_MAPS: ReadonlySet<MapName> = new Set<MapName>(["dests", "ports", "confined"]);

/**
 * compileNetwork, or what `before` compiled when nothing the section depends on changed. Returns
 * the memo of this compile too (none when it reported a problem: such a policy is refused).
 */
export function compileNetworkOnce(
  spec: NetworkSpec,
  exes: ReadonlyMap<string, NetExe>,
  rules: RuleInfo[],
  entries: MapEntry[],
  problems: CompileProblem[],
  ids: RuleIds,
  before?: NetworkMemo,
): CompiledNetwork & { memo?: NetworkMemo } {
  const signature = signatureOf(spec, exes);
  const origins = originsOf(spec);
  if (before?.signature === signature && before.rules.every(({ rule }) => ids.peek(rule.kind, rule.path) === rule.id)) {
    const memo: NetworkMemo = { signature, rules: [], entries: [], result: before.result, packed: before.packed };
    for (const { rule, at } of before.rules) {
      ids.id(rule.kind, rule.path);
      const now = { ...rule, origin: origins[at]! };
      rules.push(now);
      memo.rules.push({ rule: now, at });
    }
    for (const { entry, at } of before.entries) {
      const now = entryAt(entry, origins[at]!);
      entries.push(now);
      memo.entries.push({ entry: now, at });
    }
    return { ...before.result, memo };
  }
  const [ruleCount, entryCount, problemCount] = [rules.length, entries.length, problems.length];
  const result = compileNetwork(spec, exes, rules, entries, problems, ids);
  if (problems.length > problemCount) return result;
  const index = new Map<Origin, number>();
  origins.forEach((o, i) => index.has(o) || index.set(o, i));
  const mine = entries.slice(entryCount);
  const packed = Object.fromEntries(batches(mine.filter((e) => NETWORK_MAPS.has(e.map))).map((b) => [b.map, b]));
  const memo: NetworkMemo = { signature, rules: [], entries: [], result, packed };
  for (const rule of rules.slice(ruleCount)) memo.rules.push({ rule, at: index.get(rule.origin) ?? -1 });
  for (const entry of mine) memo.entries.push({ entry, at: index.get(entry.origin) ?? -1 });
  // An origin that is no place of the section (none is, today) could not be found in the next text.
  if (memo.rules.some((r) => r.at < 0) || memo.entries.some((e) => e.at < 0)) return result;
  return { ...result, memo };
}

/** Every origin of the section, in an order that depends only on what the signature holds. */
export function originsOf(spec: NetworkSpec): Origin[] {
  const out = [spec.origin];
  for (const d of spec.destinations) {
    out.push(d.origin);
    for (const a of d.addresses) out.push(a.origin);
    for (const h of d.hosts) out.push(h.origin);
  }
  for (const c of spec.confine) out.push(c.origin);
  return out;
}

/** The section as the compiler reads it, origins aside, with the host names' addresses and the named executables' inodes. */
export function signatureOf(spec: NetworkSpec, exes: ReadonlyMap<string, NetExe>): string {
  const exe = (name: string) => [name, exes.get(name)?.inode ?? null];
  const cidr = (c: Cidr) => `${c.family} ${c.canonical}`;
  return JSON.stringify([
    spec.default,
    spec.mode,
    spec.destinations.map((d) => [
      d.name,
      d.mode,
      d.protocols,
      d.ports.map((p) => [p.lo, p.hi]),
      d.allow?.map(exe) ?? null,
      d.addresses.map((a) => cidr(a.cidr)),
      d.hosts.map((h) => [h.name, (spec.resolved?.get(h.name) ?? []).map(cidr)]),
    ]),
    spec.confine.map((c) => [exe(c.executable), c.mode, c.to]),
  ]);
}
