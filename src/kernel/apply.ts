// apply(plan, generation): a compiled policy becomes the one the kernel enforces, atomically.
//
// 0. A map no BPF program adds to whose entries are those of the generation in force is that
//    generation's map (src/kernel/sealed.ts); the exes map, which the kernel removes entries from,
//    only if it still holds them all. Steps 1 and 2 build the others; step 3 stages it too.
// 1. Fresh inner maps (files, grants, executables) are created and registered as the agent's own at
//    once (agent.bpf.h refuses their descriptors to anyone else), and filled. With rules on
//    directories, the files map goes into the slot not in force first, so that the kernel labels
//    what is created below a directory from the moment the directory's entry is written
//    (bpf/tree.bpf.h); the trees are then walked again, and what appeared between the compiler's
//    walk and that moment is labelled too.
// 2. They are frozen (no file descriptor can write them any more; BPF programs still do), then read
//    back and compared with the plan byte for byte: whatever slipped in before the registration is
//    found here, and the generation is refused. What the kernel itself did meanwhile below the
//    directories is expected: labels of new entries, and entries gone with their files.
// 3. They go into the slot not in force (bf_*_gen maps), and bf_state_v2 records the slot's
//    generation number: nothing in force has changed yet.
// 4. One update of bf_state_v2 makes that slot the one in force. A decision reads the slot once,
//    so it sees the old generation or the new one, never a mix: no moment in which neither holds.
//    From 3 on, the kernel itself carries protection across renames in both slots.
// Then the changes below directories counted before the second walk are settled (bpf/tree.bpf.h).
// A failure before 4 leaves the kernel enforcing what it enforced (the new inner maps are closed
// and freed).
// 5. Once in force (at a start, once the programs are attached too), the files at the protected
//    paths are checked against the files the generation protects: one replaced (renamed over)
//    after the compiler named it and before its entry was in force is protected by one more
//    generation, built the same way (the kernel saw nothing: no program ran, or no entry held it).
//    Paths in directories that a watch begun before the naming saw unchanged (src/kernel/watch.ts)
//    are known to name the same files without a look; the others are stat'ed.
import { FileFlag, FileRule, InodeKey, MAP_LIMITS, MAPS, ObjectKind, State, type MapName } from "../abi.ts";
import { batches, carriesFile, fileRuleValue, type Compiled, type TreeRule, type Unsound } from "../compile/compile.ts";
import { nameEntries, walkChanges } from "../compile/tree.ts";
import { loadShim } from "./assets.ts";
import type { BpfMap, Entries, Shim } from "../../ffi/shim.ts";
import type { Kernel } from "./kernel.ts";
import { firstOf } from "../policy/diagnostic.ts";
import type { Since } from "./watch.ts";
import { KEEPABLE_MAPS, SHRINKING_MAPS, type SealedMap } from "./sealed.ts";

export interface Applied {
  /** The generation in force: the last of those applied (from `from`), all of one compiled policy. */
  generation: number;
  from: number;
  slot: 0 | 1;
  /** Protected paths whose file was replaced while the policy was applied: the file now there is protected. */
  reconciled: string[];
  /**
   * Protected paths whose file was replaced again in each of SETTLE_ROUNDS generations: the file
   * now there is not protected (someone keeps replacing it). Empty when every file is.
   */
  unsettled: string[];
  /** The maps the last generation took as they were from the one before (unchanged entries: src/kernel/sealed.ts). */
  kept: MapName[];
}

/** A protected path's file replaced since it was named, and the entry that protects the file now there. */
interface Replaced {
  path: string;
  /** null: the file now there cannot be named (it no longer opens, or its file system's names do not last). */
  key: Uint8Array | null;
  value: Uint8Array;
}
type Named = Replaced & { key: Uint8Array };

/** Generations applied, each protecting the files found replaced during the one before, before giving up. */
export const SETTLE_ROUNDS = 3;

/** Applied.unsettled for a message: '"a"', '"a" and "b"', '"a", "b" and 3 more'. */
export function unsettledList(paths: readonly string[]): string {
  return firstOf(paths.map((p) => `"${p}"`), 2, " and ");
}

/** The kernel's names of some paths' inodes (src/kernel/probe.ts kernelInodes). */
export type KernelInodes = (paths: string[]) => Promise<Map<string, { dev: number; ino: bigint; unsound?: Unsound }>>;

export class ApplyError extends Error {}

/**
 * The compiled policy in force as generation `generation`, then checked: a protected file replaced
 * (renamed over) after it was named and before its entry was in force is not the file the entry
 * protects, and the kernel saw nothing. Once the generation is in force (and, at a start, the
 * programs attached: `whenInForce`), a protected file can no longer be replaced by anyone the
 * policy does not let write it, so what is found replaced then is protected in one more
 * generation, and so on up to SETTLE_ROUNDS. kernelInodes names those files, and what appears
 * below protected directories.
 */
export async function apply(
  kernel: Kernel,
  compiled: Compiled,
  generation: number,
  kernelInodes: KernelInodes,
  whenInForce: () => void = () => {},
  since?: Since,
): Promise<Applied> {
  const from = generation;
  let replaced: Named[] = [];
  for (let round = 1; ; round++) {
    const built = await build(kernel, compiled, generation, kernelInodes, replaced);
    try {
      if (round === 1) whenInForce();
      const more = await replacedSince(compiled, built.files, replaced, kernelInodes, since);
      const again = new Set(more.map((r) => r.path));
      if (!more.length || round === SETTLE_ROUNDS || more.some((r) => r.key === null)) {
        return { generation, from, slot: built.slot, reconciled: replaced.map((r) => r.path).filter((p) => !again.has(p)), unsettled: [...again], kept: built.kept };
      }
      replaced = [...replaced.filter((r) => !again.has(r.path)), ...(more as Named[])];
      generation = Math.max(...kernel.slots().generations) + 1;
    } finally {
      built.files.close();
    }
  }
}

/** One generation built, checked and put in force (steps 1 to 4); its files map stays open for the caller. */
async function build(
  kernel: Kernel,
  compiled: Compiled,
  generation: number,
  kernelInodes: KernelInodes,
  replaced: readonly Named[],
): Promise<{ slot: 0 | 1; files: BpfMap; kept: MapName[] }> {
  const before = kernel.slots();
  if (generation <= Math.max(...before.generations)) {
    throw new Error(`Bug: generation ${generation} is not newer than those the kernel holds (${before.generations.join(", ")})`);
  }
  const slot = (1 - before.active) as 0 | 1;
  const inner = new Map<MapName, BpfMap>();
  let stagedEarly = false;
  const plan = batches(compiled.entries, compiled.network?.packed);
  const entriesOf = (kind: MapName): Entries => plan.find((b) => b.map === kind) ?? { keys: new Uint8Array(0), values: new Uint8Array(0), count: 0 };
  // 0. A map that BPF programs do not add to, whose entries are those of the generation in force
  // byte for byte, is that generation's map: sealed and checked when it was built (src/kernel/sealed.ts).
  // One they remove from (exes) is read back first: an entry gone (its file deleted) means building it again.
  const kept = new Map<MapName, SealedMap>();
  const shim = await loadShim();
  for (const kind of KEEPABLE_MAPS) {
    const same = kernel.sealed.holding(before.active, kind, entriesOf(kind));
    if (same && (!SHRINKING_MAPS.has(kind) || holdsAll(shim, kind, same))) kept.set(kind, same);
  }
  try {
    // 1. Build.
    for (const kind of Object.keys(MAPS) as MapName[]) {
      if (kept.has(kind)) continue;
      const { outer, key, value } = MAPS[kind];
      const map = kernel.obj.createInnerMap(outer, `bf_${kind}_${generation}`.slice(0, 15), key.size, value.size);
      inner.set(kind, map);
      kernel.registerObjects([[ObjectKind.MAP, map.id()]]);
    }
    const trees = compiled.trees ?? [];
    const stage = (kind: MapName, map: BpfMap) => {
      kernel.obj.map(MAPS[kind].outer, 4, 4).update(u32(slot), u32(map.fd));
      if (KEEPABLE_MAPS.has(kind)) kernel.sealed.put(slot, kind, { map, entries: entriesOf(kind) });
    };
    if (trees.length) {
      stage("files", inner.get("files")!);
      stagedEarly = true;
    }
    for (const b of plan) inner.get(b.map)?.updateMany(b.keys, b.values, b.count);
    for (const r of replaced) inner.get("files")!.update(r.key, r.value);
    // Directories moved (or file systems mounted) below a protected one up to now are in what the
    // walk finds next; those after it, the kernel counts on.
    const moved = kernel.trees().moved;
    const late = await labelLate(trees, inner.get("files")!, plan.find((b) => b.map === "files"), kernelInodes);

    // 2. Freeze, and check that the maps hold the plan and nothing else.
    for (const map of inner.values()) map.freeze();
    for (const kind of inner.keys()) {
      const batch = entriesOf(kind);
      if (kind === "files" && trees.length) {
        const planned = plannedTable(kind, batch, replaced);
        for (const [k, v] of late) planned.set(k, v);
        checkTreesHeld(planned, new Set(trees.map((t) => bytesText(t.child))), inner.get(kind)!.dump(MAP_LIMITS.files));
      } else {
        const planned = kind === "files" && replaced.length ? withEntries(kind, batch, replaced) : batch;
        checkHeld(shim, kind, planned, inner.get(kind)!.dump(planned.count));
      }
    }

    // 3. Stage in the slot not in force (a map kept: unless that slot holds it already).
    for (const [kind, map] of inner) if (!(trees.length && kind === "files")) stage(kind, map);
    for (const [kind, { map }] of kept) if (!kernel.sealed.holds(slot, kind, map)) stage(kind, map);
    kernel.setEnvRules(slot, compiled.envPatterns ?? []);
    kernel.setNetPolicy(slot, compiled.net);
    const generations: [number, number] = [...before.generations];
    generations[slot] = generation;
    // Whether a slot's generation has directories: an unlabelled file is looked for under its
    // parents (while changes below one wait, tree.bpf.h) only then.
    const treeBits = (before.trees & ~(1 << slot)) | (trees.length ? 1 << slot : 0);
    writeState(kernel, before.active, generations, treeBits);

    // 4. In force.
    writeState(kernel, slot, generations, treeBits);
    stagedEarly = false;
    kernel.settleTrees(moved);
    const files = inner.get("files")!;
    inner.delete("files"); // the caller's to close
    return { slot, files, kept: (Object.keys(MAPS) as MapName[]).filter((k) => kept.has(k)) };
  } catch (e) {
    // A files map staged early and refused leaves the slot: nothing half-built stays in the kernel.
    if (stagedEarly) kernel.obj.map(MAPS.files.outer, 4, 4).delete(u32(slot));
    throw e;
  } finally {
    // The outer maps hold them now (or nothing does); those sealed stay open for the next generation.
    for (const map of inner.values()) if (!kernel.sealed.kept(map)) map.close();
  }
}

/**
 * Protected paths whose file is no longer the one the generation in force protects (compiled, or
 * found replaced before: `replaced`), with the entry that protects the file now there. A file the
 * kernel labelled itself (a program the policy lets write it saved it by renaming a new file over
 * it) is in `files` already and protected. Where nothing is at the path any more, there is
 * nothing to protect. Paths whose directories a watch saw unchanged since they were named
 * (`since`) still name the file named then: only the others are looked at.
 */
async function replacedSince(compiled: Compiled, files: BpfMap, replaced: readonly Named[], kernelInodes: KernelInodes, since?: Since): Promise<Replaced[]> {
  const expected = new Map(replaced.map((r) => [r.path, InodeKey.decode(r.key).ino]));
  const unchanged = since?.unchanged();
  // A rule whose file is another rule's is checked as that rule; a runtime or network rule has no file.
  const carried = compiled.rules.filter((rule) => rule.coveredBy === undefined && carriesFile(rule) && (expected.has(rule.path) || !unchanged?.(rule.path)));
  const shim = await loadShim();
  const now = shim.statInodes(carried.map((rule) => rule.path));
  const moved = carried.filter((rule, i) => now[i] !== null && now[i] !== (expected.get(rule.path) ?? rule.inode.ino));
  if (!moved.length) return [];
  const keys = await kernelInodes(moved.map((r) => r.path));
  const out: Replaced[] = [];
  for (const rule of moved) {
    const k = keys.get(rule.path);
    // Gone meanwhile: nothing to protect; a file that cannot be named (no longer opens, or on a
    // file system whose names do not last) cannot be protected by another generation either.
    if (!k && shim.statInodes([rule.path])[0] === null) continue;
    const key = k && !k.unsound ? InodeKey.encode({ ino: k.ino, dev: k.dev }) : null;
    if (key && files.lookup(key)) continue;
    out.push({ path: rule.path, key, value: fileRuleValue(rule) });
  }
  return out;
}

/**
 * Walk the directories again once their entries are in the staged files map (from then on the
 * kernel labels what appears below them) and label what appeared since the compiler walked them.
 * Returns those entries (bytesText key -> value).
 */
async function labelLate(
  trees: readonly TreeRule[],
  files: BpfMap,
  planned: { keys: Uint8Array; count: number } | undefined,
  kernelInodes: KernelInodes,
): Promise<Map<string, string>> {
  const late = new Map<string, string>();
  if (!trees.length) return late;
  const known = new Set<string>();
  const keys = planned ? bytesText(planned.keys) : "";
  for (let i = 0; i < (planned?.count ?? 0); i++) known.add(keys.slice(i * InodeKey.size, (i + 1) * InodeKey.size));
  // Deepest first, as the compiler ordered them: a directory below another keeps its own rule.
  for (const tree of trees) {
    // Only the directories whose times changed since the compiler's walk are read again, and only
    // what it did not meet is named. Each pass reads again what changed during the one before: a
    // directory's entry is in the map once a pass has listed it, and the kernel labels what appears
    // in it after that.
    const dirs = new Map(tree.dirs.map((d) => [d.seen, d]));
    const seen = new Set(tree.seen);
    for (let pass = 0; pass < 4; pass++) {
      const walked = walkChanges([...dirs.values()], MAP_LIMITS.files);
      if (!walked.ok) throw new ApplyError(`Cannot walk the protected directory "${tree.rule.path}" again: ${walked.why}`);
      for (const d of walked.dirs) dirs.set(d.seen, d);
      const fresh = walked.entries.filter((e) => !seen.has(e.seen));
      if (!fresh.length) break;
      for (const e of fresh) seen.add(e.seen);
      await nameEntries(fresh, kernelInodes, (e) => e.stDev === tree.statDev);
      const unsound = fresh.find((e) => e.unsound);
      if (unsound) throw new ApplyError(`Cannot protect the directory "${tree.rule.path}": "${unsound.path}" appeared below it, and ${unsound.unsound!.why}`);
      for (const e of fresh) {
        const key = InodeKey.encode({ ino: e.ino, dev: e.dev });
        const k = bytesText(key);
        if (known.has(k) || late.has(k)) continue;
        if (files.lookup(key)) {
          known.add(k); // the kernel labelled it already
          continue;
        }
        files.update(key, tree.child);
        late.set(k, bytesText(tree.child));
      }
    }
  }
  return late;
}

/**
 * checkHeld for a files map the kernel labels while it is built: besides the plan, it may hold
 * labels of entries below a directory (a tree rule's child value), and a planned entry below a
 * directory may be gone (its file removed) or relabelled (moved to another protected directory).
 * Every other planned entry must be there, byte for byte.
 */
export function checkTreesHeld(planned: Map<string, string>, children: Set<string>, held: { keys: Uint8Array; values: Uint8Array; count: number }): void {
  const { key, value } = MAPS.files;
  const keys = bytesText(held.keys);
  const values = bytesText(held.values);
  const seen = new Set<string>();
  for (let i = 0; i < held.count; i++) {
    const k = keys.slice(i * key.size, (i + 1) * key.size);
    const v = values.slice(i * value.size, (i + 1) * value.size);
    const want = planned.get(k);
    seen.add(k);
    if (want === v || (children.has(v) && (want === undefined || isTreeChild(want)))) continue;
    throw new ApplyError(`The new policy's files map holds an entry the policy does not: another process wrote it before it was sealed`);
  }
  for (const [k, v] of planned) {
    if (!seen.has(k) && !isTreeChild(v)) throw new ApplyError(`The new policy's files map lost entries before it was sealed`);
  }
}

/** A bf_file_rule (bytesText) of an entry below a protected directory, not the directory a rule names. */
function isTreeChild(v: string): boolean {
  const flags = FileRule.decode(Buffer.from(v, "latin1")).flags;
  return (flags & (FileFlag.TREE | FileFlag.ROOT)) === FileFlag.TREE;
}

function writeState(kernel: Kernel, active: 0 | 1, generations: [number, number], trees: number): void {
  kernel.state.update(u32(0), State.encode({ active, generation0: generations[0], generation1: generations[1], trees }));
}

function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}

/**
 * Bytes as a string of one character per byte: as exact as hex for comparing, and cheaper (one
 * conversion per batch of entries rather than two per entry: thousands of rules are compared).
 */
function bytesText(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** The entries of a batch (keys and values back to back) for map `kind`, as key -> value in bytesText. */
export function entryTable(kind: MapName, batch: { keys: Uint8Array; values: Uint8Array; count: number }): Map<string, string> {
  const { key, value } = MAPS[kind];
  const keys = bytesText(batch.keys);
  const values = bytesText(batch.values);
  const out = new Map<string, string>();
  for (let i = 0; i < batch.count; i++) out.set(keys.slice(i * key.size, (i + 1) * key.size), values.slice(i * value.size, (i + 1) * value.size));
  return out;
}

/** Does a sealed map still hold exactly the entries it was sealed with (read back now)? */
function holdsAll(shim: Shim, kind: MapName, sealed: SealedMap): boolean {
  // Room for one more than sealed: a map holding more is not the same (rather than an error).
  return held(shim, kind, sealed.entries, sealed.map.dump(sealed.entries.count + 1)) === "same";
}

/** What map `kind` holds (as dumped) against the planned entries (distinct keys): the same, more, or fewer. */
function held(shim: Shim, kind: MapName, planned: Entries, dumped: Entries): ReturnType<Shim["sameEntries"]> {
  const { key, value } = MAPS[kind];
  return shim.sameEntries(planned, dumped, key.size, value.size);
}

/** Throws unless what map `kind` holds (as dumped) is exactly the planned entries (distinct keys). */
export function checkHeld(shim: Shim, kind: MapName, planned: Entries, dumped: Entries): void {
  const same = held(shim, kind, planned, dumped);
  if (same === "extra") throw new ApplyError(`The new policy's ${kind} map holds an entry the policy does not: another process wrote it before it was sealed`);
  if (same === "lost") throw new ApplyError(`The new policy's ${kind} map lost entries before it was sealed`);
}

/** The plan's entries of a map (bytesText key -> value), with `extra` written over them. */
function plannedTable(kind: MapName, batch: Entries, extra: readonly { key: Uint8Array; value: Uint8Array }[]): Map<string, string> {
  const table = entryTable(kind, batch);
  for (const e of extra) table.set(bytesText(e.key), bytesText(e.value));
  return table;
}

/** A batch with entries written after it (one key, one entry: a later one replaces a planned one). */
function withEntries(kind: MapName, batch: Entries, extra: readonly { key: Uint8Array; value: Uint8Array }[]): Entries {
  const table = plannedTable(kind, batch, extra);
  const keys = Buffer.from([...table.keys()].join(""), "latin1");
  const values = Buffer.from([...table.values()].join(""), "latin1");
  return { keys, values, count: table.size };
}
