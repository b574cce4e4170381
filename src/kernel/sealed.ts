// The maps of each slot that no BPF program adds to, and the entries each holds. apply built each
// one, froze it (no file descriptor writes it any more) and read it back: it holds exactly the
// entries it was planned with, and nothing adds to them after that. So a new generation whose
// entries for such a map are the same, byte for byte, as those of the generation in force takes
// that very map (src/kernel/apply.ts): nothing to build, fill or freeze, and nothing to stage when
// the slot not in force holds it already. Rule ids kept across generations (src/compile/ids.ts)
// make this the common case: a policy change touches the maps it changes.
//
// Which maps the kernel writes is a fact of bpf/ (test/unit/sealed.test.ts reads it there): it
// adds to the files map (labels below protected directories, protection carried across renames)
// and removes from the files and exes maps (the entries of files gone for good). The exes map is
// kept only if it still holds every entry when read back; the others it only reads.
import type { MapName } from "../abi.ts";
import type { BpfMap, Entries } from "../../ffi/shim.ts";

/** The maps only read by BPF programs: their entries stay those they were sealed with. */
export const READ_ONLY_MAPS: ReadonlySet<MapName> = new Set<MapName>(["grants", "dests", "ports", "confined"]);
/** The maps BPF programs remove entries from, and never add to: kept while they hold every entry. */
export const SHRINKING_MAPS: ReadonlySet<MapName> = new Set<MapName>(["exes"]);
/** The maps a generation may take from the one before. */
export const KEEPABLE_MAPS: ReadonlySet<MapName> = new Set([...READ_ONLY_MAPS, ...SHRINKING_MAPS]);

export interface SealedMap {
  map: BpfMap;
  /** The entries it holds: keys and values back to back, in the plan's order. */
  entries: Entries;
}

export class SealedMaps {
  private readonly slots: [Partial<Record<MapName, SealedMap>>, Partial<Record<MapName, SealedMap>>] = [{}, {}];

  /** The map in `slot` for `kind` when it holds exactly `entries` (same order, same bytes). */
  holding(slot: 0 | 1, kind: MapName, entries: Entries): SealedMap | undefined {
    const s = this.slots[slot][kind];
    return s && sameEntries(s.entries, entries) ? s : undefined;
  }

  /** Is `map` the one in `slot` for `kind`? */
  holds(slot: 0 | 1, kind: MapName, map: BpfMap): boolean {
    return this.slots[slot][kind]?.map === map;
  }

  /**
   * `sealed` is now in `slot` for `kind` (KEEPABLE_MAPS only). The map it replaces is closed unless
   * the other slot holds it too (the outer map keeps it as long as a slot refers to it).
   */
  put(slot: 0 | 1, kind: MapName, sealed: SealedMap): void {
    if (!KEEPABLE_MAPS.has(kind)) throw new Error(`Bug: BPF programs add to the ${kind} map: it cannot be kept sealed`);
    const old = this.slots[slot][kind];
    this.slots[slot][kind] = sealed;
    if (old && old.map !== sealed.map && old.map !== this.slots[1 - slot]![kind]?.map) old.map.close();
  }

  /** Is this map one a slot holds (the caller must not close it)? */
  kept(map: BpfMap): boolean {
    return this.slots.some((s) => Object.values(s).some((x) => x.map === map));
  }

  /** Close every map kept (the outer maps hold them as long as their slots do). */
  close(): void {
    const maps = new Set(this.slots.flatMap((s) => Object.values(s).map((x) => x.map)));
    for (const m of maps) m.close();
    this.slots[0] = {};
    this.slots[1] = {};
  }
}

function sameEntries(a: Entries, b: Entries): boolean {
  if (a === b) return true;
  return a.count === b.count && Buffer.from(a.keys.buffer, a.keys.byteOffset, a.keys.byteLength).equals(b.keys) && Buffer.from(a.values.buffer, a.values.byteOffset, a.values.byteLength).equals(b.values);
}
