// The plan as the kernel's maps take it: each map's entries, keys and values back to back.
import { MAPS, type MapName } from "../abi.ts";
import type { MapEntry } from "./compile.ts";

export type Batch = { map: MapName; keys: Uint8Array; values: Uint8Array; count: number };

/**
 * Group entries by map, keys and values back to back, for batched updates. `packed`: maps whose
 * every entry is packed already (a network section's, src/compile/net-memo.ts): taken as they are.
 */
export function batches(entries: readonly MapEntry[], packed: Partial<Record<MapName, Batch>> = {}): Batch[] {
  const names = Object.keys(MAPS) as MapName[];
  const counts = Object.fromEntries(names.map((n) => [n, 0])) as Record<MapName, number>;
  for (let i = 0; i < entries.length; i++) counts[entries[i]!.map]++;
  const out: Batch[] = [];
  const byMap = {} as Record<MapName, Batch | undefined>;
  for (const map of names) {
    const ready = packed[map];
    if (ready) {
      if (ready.count !== counts[map]) throw new Error(`Bug: ${ready.count} packed entries for the ${map} map, which has ${counts[map]}`);
      if (ready.count) out.push(ready);
      continue;
    }
    if (!counts[map]) continue;
    const batch = { map, keys: new Uint8Array(MAPS[map].key.size * counts[map]), values: new Uint8Array(MAPS[map].value.size * counts[map]), count: 0 };
    out.push(batch);
    byMap[map] = batch;
  }
  // One pass over the entries (not one for each map).
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const b = byMap[e.map];
    if (!b) continue; // packed already
    const { key, value } = MAPS[e.map];
    b.keys.set(e.key, b.count * key.size);
    b.values.set(e.value, b.count * value.size);
    b.count++;
  }
  return out;
}
