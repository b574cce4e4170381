// Rule ids across generations. The kernel's maps hold rule ids (which rule decided, for events; a
// grant's key), so a rule whose id changed changes every entry that names it. Numbered by position,
// one file rule removed near the top of a policy would renumber every rule after it: every
// executable, destination and confinement entry, and with them every map. Here a rule that the
// generation in force has too (the same kind at the same path) keeps its id, so the entries that
// did not change keep their bytes, and apply can leave the maps that hold only those as they are
// (src/kernel/apply.ts).
//
// An id names a rule within one generation only: events carry their generation, and each
// generation's table names its rules (src/agent/state.ts). Fresh ids are the smallest numbers that
// no rule of the generation in force has: ids do not grow with the number of reloads.
import type { RuleInfo } from "./compile.ts";

type Kind = RuleInfo["kind"];

export class RuleIds {
  /** kind -> path -> id in the generation in force, for the rules not given their id yet. */
  private readonly before = new Map<Kind, Map<string, number>>();
  /** Ids of the generation in force: a fresh id is none of them. */
  private readonly old = new Set<number>();
  private cursor = 0;

  /** previous: the rules of the generation in force (none at a start: ids 0, 1, 2, ... in order). */
  constructor(previous: readonly Pick<RuleInfo, "id" | "kind" | "path">[] = []) {
    for (const r of previous) {
      let paths = this.before.get(r.kind);
      if (!paths) this.before.set(r.kind, (paths = new Map()));
      paths.set(r.path, r.id);
      this.old.add(r.id);
    }
  }

  /**
   * The id of the rule of this kind at this path: the one it had, the first time it is asked for;
   * otherwise a fresh one. Kept ids are distinct (they were in force), and fresh ones are none of them.
   */
  /** The id id() would give a rule kept from the generation in force, without giving it; undefined for a fresh one. */
  peek(kind: Kind, path: string): number | undefined {
    return this.before.get(kind)?.get(path);
  }

  id(kind: Kind, path: string): number {
    const paths = this.before.get(kind);
    const had = paths?.get(path);
    if (had !== undefined) {
      paths!.delete(path);
      return had;
    }
    while (this.old.has(this.cursor)) this.cursor++;
    return this.cursor++;
  }
}

/** The rule with this id in a generation's rules (ids are positions at a start; after a reload, not always). */
export function ruleWithId<R extends { id: number }>(rules: readonly R[] | undefined, id: number): R | undefined {
  if (!rules) return undefined;
  const at = rules[id];
  if (at?.id === id) return at;
  let index = indexes.get(rules);
  if (!index) {
    index = new Map(rules.map((r) => [r.id, r]));
    indexes.set(rules, index);
  }
  return index.get(id) as R | undefined;
}

const indexes = new WeakMap<readonly { id: number }[], Map<number, { id: number }>>();
