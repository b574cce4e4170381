// Where each value of a parsed policy sits in its text: a tree of places that mirrors the value
// (a mapping's places by key, a list's by index), filled by either YAML reader (parse.ts).

import type { Span, ValuePath } from "./diagnostic.ts";
import { startupCode } from "../jit.ts";

export interface Place {
  /** Offsets of the value in the text, end exclusive. A block mapping or list ends with its first line. */
  start: number;
  end: number;
  /** Offsets of the key when the value sits in a mapping. */
  keyStart?: number;
  keyEnd?: number;
  /**
   * The places of the values inside a mapping (by key: an object without prototype, cheaper than
   * a Map for the thousands of small mappings of a large policy) or a list (by index).
   */
  kids?: Keyed | Place[];
}

/** A mapping's places by key. */
export type Keyed = Record<string, Place>;

/** An empty Keyed: no prototype, so that no key ("constructor", "__proto__") finds anything but a place. */
export function keyed(): Keyed {
  return Object.create(null) as Keyed;
}

export class SourceMap {
  #root: Place | undefined;
  readonly #lineStarts: readonly number[];
  #lastLine = 0;
  /** Set when the block-style reader read the text, with no duplicate key: how many values it holds (splice.ts). */
  blockValues: number | undefined;

  constructor(
    readonly file: string,
    readonly text: string,
    lineStarts: readonly number[],
  ) {
    this.#lineStarts = lineStarts.length > 0 ? lineStarts : [0];
  }

  /** @internal for the readers: the place of the whole value. */
  setRoot(place: Place): void {
    this.#root = place;
  }

  /** @internal for the readers: the place at `path`, whose parent is already placed. */
  set(path: ValuePath, place: Place): void {
    if (path.length === 0) return this.setRoot(place);
    const parent = walk(this.#root, path, path.length - 1);
    if (parent.depth !== path.length - 1 || !parent.place) throw new Error(`Bug: no place for the parent of ${JSON.stringify(path)}`);
    const last = path[path.length - 1]!;
    if (typeof last === "number") ((parent.place.kids ??= []) as Place[])[last] = place;
    else ((parent.place.kids ??= keyed()) as Keyed)[last] = place;
  }

  /** The span of the value at `path`, or of its nearest recorded ancestor. */
  value(path: ValuePath): Span {
    const place = walk(this.#root, path, path.length).place;
    if (!place) return { line: 1, col: 1 };
    const [start, end] = SourceMap.#valueOffsets(place);
    return this.span(start, end);
  }

  static #valueOffsets(place: Place): [number, number] {
    return SourceMap.#shownAtKey(place) ? [place.keyStart!, place.keyEnd!] : [place.start, place.end];
  }

  /** An empty value (a key with nothing after it) is shown at its key. */
  static #shownAtKey(place: Place): boolean {
    return place.start === place.end && place.keyStart !== undefined;
  }

  /**
   * The file, line and column where the value at `path` starts: value(path)'s start without the
   * work of finding where it ends (a compiled rule carries one for each of thousands of rules).
   */
  valueStart(path: ValuePath): { file: string; line: number; col: number } {
    const place = walk(this.#root, path, path.length).place;
    if (!place) return { file: this.file, line: 1, col: 1 };
    return this.#startOf(place);
  }

  /**
   * valueStart of [...list, i, field] (of [...list, i] without a field) for each item i of the list
   * at `list`, found in one walk: a policy's file rules and addresses are compiled by the ten
   * thousand, each carrying where it was written.
   */
  itemStarts(list: ValuePath, field: string | undefined, count: number): { file: string; line: number; col: number }[] {
    const at = walk(this.#root, list, list.length);
    const items = at.depth === list.length && Array.isArray(at.place?.kids) ? at.place.kids : undefined;
    const out: { file: string; line: number; col: number }[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const item = items?.[i];
      let place: Place | undefined = item;
      if (field !== undefined) {
        const kids = item?.kids;
        place = kids === undefined || Array.isArray(kids) ? undefined : kids[field];
      }
      out[i] = place ? this.#startOf(place) : this.valueStart(field === undefined ? [...list, i] : [...list, i, field]);
    }
    return out;
  }

  #startOf(place: Place): { file: string; line: number; col: number } {
    const offset = SourceMap.#shownAtKey(place) ? place.keyStart! : place.start;
    const line = this.lineOf(offset);
    return { file: this.file, line: line + 1, col: offset - this.#lineStarts[line]! + 1 };
  }

  /** The span of the key that holds the value at `path`; the value's span when there is no key. */
  key(path: ValuePath): Span {
    const place = walk(this.#root, path, path.length).place;
    if (!place) return { line: 1, col: 1 };
    if (place.keyStart !== undefined) return this.span(place.keyStart, place.keyEnd!);
    return this.span(place.start, place.end);
  }

  /** 1-based line and column of an offset. */
  position(offset: number): { line: number; col: number } {
    const line = this.lineOf(offset);
    return { line: line + 1, col: offset - this.#lineStarts[line]! + 1 };
  }

  /** The 0-based line of an offset. */
  private lineOf(offset: number): number {
    const starts = this.#lineStarts;
    // Offsets mostly come in text order (rule after rule): search from the line of the last
    // answer, a few lines at a time, before halving the rest.
    let lo = starts[this.#lastLine]! <= offset ? this.#lastLine : 0;
    let hi = starts.length - 1;
    let step = 1;
    for (; lo + step <= hi && starts[lo + step]! <= offset; step *= 2) lo += step;
    hi = Math.min(hi, lo + step - 1); // the line after lo + step - 1, if any, starts past offset
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    this.#lastLine = lo;
    return lo;
  }

  /** A span underlining [start, end) when it fits on one line, else from start to the end of its line. */
  span(start: number, end: number): Span {
    const { line, col } = this.position(start);
    const lineStart = this.#lineStarts[line - 1] ?? 0;
    let lineEnd = this.text.indexOf("\n", start);
    if (lineEnd === -1) lineEnd = this.text.length;
    let stop = Math.min(end, lineEnd);
    while (stop > start && /\s/.test(this.text[stop - 1]!)) stop--;
    const endCol = stop - lineStart + 1;
    return endCol > col ? { line, col, endCol } : { line, col };
  }

  /** Every place, for tests comparing the two readers. */
  tree(): Place | undefined {
    return this.#root;
  }
}

/** The deepest place along the first `length` steps of `path`. */
function walk(root: Place | undefined, path: ValuePath, length: number): { place: Place | undefined; depth: number } {
  let place = root;
  let depth = 0;
  while (place && depth < length) {
    const kids = place.kids;
    const seg = path[depth]!;
    const next = kids === undefined ? undefined : Array.isArray(kids) ? (typeof seg === "number" ? kids[seg] : undefined) : typeof seg === "string" ? kids[seg] : undefined;
    if (!next) break;
    place = next;
    depth++;
  }
  return { place, depth };
}

/** Offsets at which each line of `text` starts. */
export function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** Offset of the end of the line holding `offset` (its "\n", or the end of the text). */
export function lineEndOf(text: string, offset: number): number {
  const nl = text.indexOf("\n", offset);
  return nl === -1 ? text.length : nl;
}

startupCode(SourceMap.prototype, walk);
