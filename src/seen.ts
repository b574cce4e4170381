// An item named twice in a short list (an executable granted twice in one rule): a look along the
// earlier items costs less than a map made for each of thousands of lists, as a large policy has
// tens of thousands of rules. A list longer than FEW gets a map.
import { startupCode } from "./jit.ts";

/** Up to this many items, a key is compared with each earlier one. */
export const FEW = 16;

/** A map for a list of `length` items when it is long; undefined for a short one. */
export function seenMap<K>(length: number): Map<K, number> | undefined {
  return length > FEW ? new Map<K, number>() : undefined;
}

/**
 * Where `key` first appears among items[0..at) (as keyOf reads each), or -1. Called for each item
 * in order, `at` its index. With `seen` (seenMap's, for a long list), a map replaces the look
 * along, and a key not seen before is remembered at `at`.
 */
export function firstSeen<T, K>(items: readonly T[], at: number, key: K, keyOf: (item: T) => unknown, seen: Map<K, number> | undefined): number {
  if (seen) {
    const first = seen.get(key);
    if (first !== undefined) return first;
    seen.set(key, at);
    return -1;
  }
  for (let k = 0; k < at; k++) if (keyOf(items[k]!) === key) return k;
  return -1;
}

startupCode(seenMap, firstSeen);
