// A policy read again after an edit, from the reading of the text before it: a reload sends the
// policy in force with a few rules added, removed or changed, and reading 10,000 rules again took a
// quarter of a second of a reload in the bench's VM.
//
// The texts before and after share a prefix and a suffix; what lies between changed. The deepest
// block (list or mapping) whose children hold the change is found in the old reading, and only the
// children that overlap the change are read from the new text (blockstyle.ts readChildren, the
// block-style reader itself, with the same column and nesting). Everything before them keeps its
// places, everything after them is moved by the change in length, and the values and places of
// the blocks around them are copied with the new children in. The old reading is never changed:
// it is the policy in force's, and stays so if the new policy is refused.
//
// The result is what reading the whole new text gives, value for value and place for place (test/
// policy/splice.test.ts compares the two on edits of every policy of the test corpus). Where that
// cannot be shown from the old reading (the change reaches a line of a block that is not one of its
// children, a block that would be left empty, a duplicate key, a flow list), null: the caller reads
// the whole text.
import { readChildren } from "./blockstyle.ts";
import { keyed, type Keyed, type Place } from "./sourcemap.ts";
import { startupCode } from "../jit.ts";

/** A text as the block-style reader read it, with no duplicate key. */
export interface Reading {
  text: string;
  value: unknown;
  root: Place;
  /** How many values it holds (each has a place). */
  values: number;
}

/** A child of a block, in the text's order: its key (mappings) or index (lists), its place, the start of its first line. */
interface Child {
  key: string | number;
  place: Place;
  line: number;
}

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DASH = 0x2d;
const TAB = 0x09;

/** A block on the way down to the change: its children, those that hold the change ([first, last)), and where they end. */
interface Level {
  place: Place;
  value: unknown;
  children: Child[];
  first: number;
  last: number;
  /** Where the old reading of children first..last-1 ended (a line start, or the end of the text). */
  end: number;
  depth: number;
}

/** The reading of `text`, given the reading of the text it was edited from; null where only reading all of it can tell. */
export function readAfterEdit(before: Reading, text: string, maxDepth: number, maxValues: number): Omit<Reading, "text"> | null {
  const old = before.text;
  if (old === text) return { value: before.value, root: before.root, values: before.values };
  const a = commonPrefix(old, text);
  const b = commonSuffix(old, text, Math.min(old.length, text.length) - a);
  const changeEnd = old.length - b; // the change is [a, changeEnd) of the old text, [a, text.length - b) of the new
  const delta = text.length - old.length;
  // What the reader refuses anywhere (readBlockStyle): the old text had none, so only the change can.
  if (!clean(text, Math.max(0, a - 1), Math.min(text.length, text.length - b + 1))) return null;

  // Down from the top while the change lies in one child that is a block itself.
  const levels: Level[] = [];
  let place = before.root;
  let value = before.value;
  let stop = old.length; // where the old reading of this block ended
  let children = childrenOf(old, place);
  for (let depth = 1; depth <= maxDepth && children?.length; depth++) {
    const first = lastBefore(children, a);
    if (first === -1) break;
    let last = first + 1;
    while (last < children.length && children[last]!.line < changeEnd) last++;
    const end = last < children.length ? children[last]!.line : stop;
    if (end < changeEnd) break; // the change reaches past this block
    levels.push({ place, value, children, first, last, end, depth });
    if (last !== first + 1) break;
    const only = children[first]!;
    const below = childrenOf(old, only.place);
    if (!below || !startsOwnLine(old, only.place, below, a)) break;
    value = (value as Record<string | number, unknown>)[only.key];
    place = only.place;
    stop = end;
    children = below;
  }
  // An edit at the end of a block can belong to it or to a block around it: the deepest block whose
  // children read again end exactly where they ended before is the one.
  for (let k = levels.length - 1; k >= 0; k--) {
    const read = readAgain(levels[k]!, old, text, delta, before.values, maxDepth, maxValues);
    if (read) return { ...rebuild(levels.slice(0, k), read.value, read.place, delta), values: read.values };
  }
  return null;
}

/** The children of a level that hold the change, read again from the new text, in a copy of the block; null where they cannot be. */
function readAgain(level: Level, old: string, text: string, delta: number, values: number, maxDepth: number, maxValues: number): { value: unknown; place: Place; values: number } | null {
  const { place, value, children, first, last, end, depth } = level;
  const limit = end + delta;
  if (limit < text.length && text.charCodeAt(limit - 1) !== NL) return null;
  let removed = 0;
  for (let k = first; k < last; k++) removed += countPlaces(children[k]!.place);
  const column = place.start - lineStart(old, place.start);
  const read = readChildren(text, limit, children[first]!.line, column, depth, values - removed, maxDepth, maxValues);
  if (!read) return null;
  const list = Array.isArray(place.kids);
  const added = childrenOf(text, { start: read.start, end: read.end, keyStart: undefined, keyEnd: undefined, kids: read.kids }) ?? [];
  if (added.length && Array.isArray(read.kids) !== list) return null;
  const kept = children.slice(0, first);
  const moved = children.slice(last);
  if (!kept.length && !added.length) return null; // the block's first line would be another's
  if (!list) {
    const taken = new Set<string | number>([...kept, ...moved].map((c) => c.key));
    if (added.some((c) => taken.has(c.key))) return null; // a duplicate key: the full read names it
  }
  const newValue = list
    ? [...(value as unknown[]).slice(0, first), ...((read.value as unknown[] | null) ?? []), ...(value as unknown[]).slice(last)]
    : entries(value as Record<string, unknown>, kept, (read.value ?? {}) as Record<string, unknown>, added, moved);
  const newPlace: Place = {
    start: kept.length ? place.start : read.start,
    end: kept.length ? place.end : read.end,
    keyStart: place.keyStart,
    keyEnd: place.keyEnd,
    kids: list ? [...(place.kids as Place[]).slice(0, first), ...(read.kids as Place[]), ...moved.map((c) => shifted(c.place, delta))] : places(kept, added, moved, delta),
  };
  return { value: newValue, place: newPlace, values: read.values };
}

/** The last child whose line starts before offset a (at a, when none starts before). */
function lastBefore(children: Child[], a: number): number {
  let first = -1;
  for (let lo = 0, hi = children.length - 1; lo <= hi; ) {
    const mid = (lo + hi) >> 1;
    if (children[mid]!.line < a) (first = mid), (lo = mid + 1);
    else hi = mid - 1;
  }
  return first === -1 && children[0]!.line === a ? 0 : first;
}

/** The blocks around the children read again, copied from the bottom up with the new child in, what follows it moved. */
function rebuild(levels: Level[], value: unknown, place: Place, delta: number): { value: unknown; root: Place } {
  for (let k = levels.length - 1; k >= 0; k--) {
    const { place: up, value: upValue, children, first } = levels[k]!;
    const child = children[first]!;
    const after = children.slice(first + 1);
    if (Array.isArray(up.kids)) {
      const values = (upValue as unknown[]).slice();
      values[child.key as number] = value;
      const kids = up.kids.slice();
      kids[child.key as number] = place;
      for (const c of after) kids[c.key as number] = shifted(c.place, delta);
      value = values;
      place = { start: up.start, end: up.end, keyStart: up.keyStart, keyEnd: up.keyEnd, kids };
    } else {
      const mapping = upValue as Record<string, unknown>;
      const values: Record<string, unknown> = {};
      for (const key of Object.keys(mapping)) put(values, key, key === child.key ? value : mapping[key]);
      const kids = keyed();
      const moved = new Set(after.map((c) => c.key));
      for (const key of Object.keys(up.kids!)) kids[key] = key === child.key ? place : moved.has(key) ? shifted(up.kids![key]!, delta) : up.kids![key]!;
      value = values;
      place = { start: up.start, end: up.end, keyStart: up.keyStart, keyEnd: up.keyEnd, kids };
    }
  }
  return { value, root: place };
}

/** A mapping's value with the entries read again between those kept and those moved, in the text's order. */
function entries(old: Record<string, unknown>, kept: Child[], added: Record<string, unknown>, addedOrder: Child[], moved: Child[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of kept) put(out, c.key as string, old[c.key as string]);
  for (const c of addedOrder) put(out, c.key as string, added[c.key as string]);
  for (const c of moved) put(out, c.key as string, old[c.key as string]);
  return out;
}

/** A mapping's places, likewise. */
function places(kept: Child[], added: Child[], moved: Child[], delta: number): Keyed {
  const out = keyed();
  for (const c of kept) out[c.key as string] = c.place;
  for (const c of added) out[c.key as string] = c.place;
  for (const c of moved) out[c.key as string] = shifted(c.place, delta);
  return out;
}

/** As the reader sets a key: "__proto__" as an own property. */
function put(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** A place and all below it, moved by delta (a copy: the old reading stays as it was). */
function shifted(p: Place, delta: number): Place {
  let kids: Place[] | Keyed | undefined;
  if (Array.isArray(p.kids)) {
    const list = p.kids;
    const out: Place[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) out[i] = shifted(list[i]!, delta);
    kids = out;
  } else if (p.kids) {
    const out = keyed();
    for (const key in p.kids) out[key] = shifted(p.kids[key]!, delta);
    kids = out;
  }
  return {
    start: p.start + delta,
    end: p.end + delta,
    keyStart: p.keyStart === undefined ? undefined : p.keyStart + delta,
    keyEnd: p.keyEnd === undefined ? undefined : p.keyEnd + delta,
    kids,
  };
}

/** Places in a subtree: the values it holds. */
function countPlaces(p: Place): number {
  let n = 1;
  if (Array.isArray(p.kids)) for (const k of p.kids) n += countPlaces(k);
  else if (p.kids) for (const key in p.kids) n += countPlaces(p.kids[key]!);
  return n;
}

/**
 * A block's children in the text's order, each with the start of its first line (a list item's is
 * its "-" line); null for a value that is no block list or mapping ("[a, b]", a scalar).
 */
function childrenOf(text: string, p: Place): Child[] | null {
  const kids = p.kids;
  if (!kids) return null;
  if (Array.isArray(kids)) {
    if (text.charCodeAt(p.start) !== DASH) return null; // a flow list
    const column = p.start - lineStart(text, p.start);
    return kids.map((place, key) => ({ key, place, line: dashLine(text, place.start, column) }));
  }
  const out: Child[] = [];
  for (const key in kids) {
    const place = kids[key]!;
    out.push({ key, place, line: lineStart(text, place.keyStart!) });
  }
  // Keys that are array indices ("1") come first in an object: the text's order is by place.
  for (let i = 1; i < out.length; i++) if (out[i]!.line < out[i - 1]!.line) return out.sort((x, y) => x.line - y.line);
  return out;
}

/**
 * Whether a block's children can be read again from the line of the child lastBefore finds: that
 * child starts its line (nothing but spaces before it; not the first key of a list item's
 * mapping, which follows "- ").
 */
function startsOwnLine(text: string, p: Place, children: Child[], a: number): boolean {
  const k = lastBefore(children, a);
  if (k === -1) return false;
  const c = children[k]!;
  const at = Array.isArray(p.kids) ? p.start - lineStart(text, p.start) + c.line : c.place.keyStart!;
  for (let i = c.line; i < at; i++) if (text.charCodeAt(i) !== SPACE) return false;
  return true;
}

/** The start of the line of a list item whose value starts at `at`: the line with its "-" at `column`. */
function dashLine(text: string, at: number, column: number): number {
  let line = lineStart(text, at);
  while (line > 0 && !(text.charCodeAt(line + column) === DASH && isItemEnd(text.charCodeAt(line + column + 1)))) line = lineStart(text, line - 1);
  return line;
}

function isItemEnd(c: number): boolean {
  return c === SPACE || c === NL || c === CR || Number.isNaN(c);
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

/** No tab, and no carriage return that does not end a line, in text[from, to). */
function clean(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === TAB || (c === CR && text.charCodeAt(i + 1) !== NL)) return false;
  }
  return true;
}

/** Length of the longest common prefix: blocks compared by the engine, then characters. */
function commonPrefix(x: string, y: string): number {
  const n = Math.min(x.length, y.length);
  const BLOCK = 4096;
  let i = 0;
  while (i + BLOCK <= n && x.startsWith(y.slice(i, i + BLOCK), i)) i += BLOCK;
  while (i < n && x.charCodeAt(i) === y.charCodeAt(i)) i++;
  return i;
}

/** Length of the longest common suffix, at most max. */
function commonSuffix(x: string, y: string, max: number): number {
  const BLOCK = 4096;
  let i = 0;
  while (i + BLOCK <= max && x.endsWith(y.slice(y.length - i - BLOCK, y.length - i), x.length - i)) i += BLOCK;
  while (i < max && x.charCodeAt(x.length - 1 - i) === y.charCodeAt(y.length - 1 - i)) i++;
  return i;
}

startupCode(shifted, countPlaces, childrenOf, dashLine, lineStart);
