// A fast reader for the YAML that policies are written in: block style, one value per line.
//
//   files:                         block mappings with plain keys
//     - path: /srv/secret.txt      block lists, a list item holding a mapping ("- key: value")
//       allow:
//         - executable: reader
//           access: [read, write]  one-line lists of plain or quoted values, "{}"
//       mode: "monitor"            plain, "double" (no escapes) and 'single' quoted values
//
// The `yaml` package (parse.ts) reads any YAML and gives the best messages, but needs about a
// microsecond and 300 bytes per byte of text: a 10,000-rule policy would take a second. This
// reader takes the same text in one pass over its lines, and declines, with the offset and the
// reason, anything outside the style above: anchors, aliases, tags, "{...}" mappings, multi-line
// or escaped strings, tabs, every YAML error. What it accepts it reads exactly as the `yaml`
// package does (the value, and every place in the SourceMap); test/policy/blockstyle.test.ts
// compares the two on every policy of the test corpus and on generated ones.

import type { ValuePath } from "./diagnostic.ts";
import { keyed, type Keyed, type Place } from "./sourcemap.ts";
import { startupCode } from "../jit.ts";

export interface DuplicateKey {
  path: ValuePath;
  keyStart: number;
  keyEnd: number;
  firstKeyStart: number;
}

export type BlockStyle =
  | { ok: true; value: unknown; root: Place; duplicates: DuplicateKey[]; values: number }
  | { ok: false; offset: number; reason: string };

/** Why the reader declined, and where. */
class Decline {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}

// The YAML 1.2 core schema's plain scalars (the `yaml` package's tags): a plain value matching
// one of these is not a string.
const NULL = /^(?:~|[Nn]ull|NULL)$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const SMALL_INT = /^[0-9]{1,15}$/;
const OTHER_NUMBER =
  /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/;

const SPACE = 0x20;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const CR = 0x0d;
/** Longest implicit key YAML allows. */
const MAX_KEY = 1024;
/** Values up to this long (names of executables, accesses) are repeated often enough to keep. */
const SHORT_TEXT = 16;

/** Per ASCII code: 1 for a character that starts something other than a plain value (a YAML indicator), 2 for a plain key's. */
const CLASS = new Uint8Array(128);
for (const c of "-?:,[]{}#&*!|>'\"%@`") CLASS[c.charCodeAt(0)] = 1;
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./") CLASS[c.charCodeAt(0)] = 2;
const INDICATOR = 1;
const KEY_CHAR = 2;

/** Characters that start something other than a plain value (YAML indicators): - ? : , [ ] { } # & * ! | > ' " % @ ` */
function isIndicator(c: number): boolean {
  return c < 128 && CLASS[c] === INDICATOR;
}

/** Characters of a plain key: letters, digits, "_", ".", "/", "-". */
function isKeyChar(c: number): boolean {
  return c < 128 && (CLASS[c] === KEY_CHAR || c === DASH);
}

export function readBlockStyle(text: string, maxDepth: number, maxValues: number): BlockStyle {
  const tab = text.indexOf("\t");
  if (tab !== -1) return { ok: false, offset: tab, reason: "Policy contains a tab character" };
  const cr = /\r(?!\n)/.exec(text);
  if (cr) return { ok: false, offset: cr.index, reason: "Policy contains a carriage return that does not end a line" };
  try {
    const r = new Reader(text, maxDepth, maxValues);
    const value = r.root();
    return { ok: true, value, root: r.at, duplicates: r.duplicates, values: r.valueCount };
  } catch (e) {
    if (e instanceof Decline) return { ok: false, offset: Math.min(e.offset, text.length), reason: e.reason };
    throw e;
  }
}

/** What readChildren read: the children's values and places, the count of values, and where the block's first line is (when it starts at `from`). */
export interface Children {
  value: unknown;
  kids: Place[] | Keyed;
  values: number;
  start: number;
  end: number;
}

/**
 * The children of a block list or mapping at column `ind` whose first child starts the line at
 * `from`, read up to `limit` (a line start: where the block, or the part of it read, ends), as the
 * whole text's reading would read them: `depth` is the block's nesting, `values` the count of
 * values outside them. Null where that is not what the text holds there (the block ends before the
 * limit, a child is not at the column, a duplicate key), or where the reader declines. A list's
 * items come as an array; a mapping's entries as an object. Places are offsets in `text`.
 */
export function readChildren(
  text: string,
  limit: number,
  from: number,
  ind: number,
  depth: number,
  values: number,
  maxDepth: number,
  maxValues: number,
): Children | null {
  try {
    return new Reader(text, maxDepth, maxValues, limit).children(from, ind, depth, values);
  } catch (e) {
    if (e instanceof Decline) return null;
    throw e;
  }
}

/** Every place is made with all its fields, so that they share one shape (the engine likes that). */
function place(start: number, end: number, kids?: Keyed | Place[]): Place {
  return { start, end, keyStart: undefined, keyEnd: undefined, kids };
}

// Each method that reads a value returns it and leaves its place in `at`: no { value, place }
// pair is made for each of the hundreds of thousands of values of a large policy.
class Reader {
  readonly duplicates: DuplicateKey[] = [];
  /** The place of the value read last. */
  at: Place = place(0, 0);
  /** Where the current content line starts, its indentation, its end ("\r\n" or "\n" excluded), the next line. */
  private line = 0;
  private ind = -1;
  private eol = 0;
  private next = 0;
  private eof = false;
  private values = 0;
  private depth = 0;
  /** Values read so far (each has a place). */
  get valueCount(): number {
    return this.values;
  }
  private readonly path: (string | number)[] = [];
  /**
   * The last key (or short value) read of each length and first character. A policy repeats a few
   * keys (path, allow, executable, access) and values (read, write, the names of executables) by
   * the thousand: each is sliced, and a key made a property name, once.
   */
  private readonly keys = new Map<number, string>();

  constructor(
    private readonly t: string,
    private readonly maxDepth: number,
    private readonly maxValues: number,
    /** Where the text ends for this reader (readChildren reads a part of it). */
    private readonly limit = t.length,
  ) {}

  /** readChildren: the items (or entries) of a block at column ind, from the line at `from` to the limit. */
  children(from: number, ind: number, depth: number, values: number): Children | null {
    this.seek(from);
    if (this.eof) return { value: null, kids: [], values, start: from, end: from };
    if (this.line !== from || this.ind !== ind) return null;
    this.depth = depth;
    this.values = values;
    const at = from + ind;
    const value = this.isItem(at) ? this.list(ind) : this.mapping(ind, at);
    // Up to the limit and no further; a duplicate key is left to the full read, which places it.
    if (!this.eof || this.duplicates.length) return null;
    return { value, kids: this.at.kids!, values: this.values - 1, start: this.at.start, end: this.at.end };
  }

  root(): unknown {
    this.seek(0);
    if (this.eof) throw new Decline(0, "Policy is empty");
    if (this.ind !== 0) throw new Decline(this.line, "The policy does not start at the first column");
    if (this.isItem(this.line)) throw new Decline(this.line, "A policy must be a mapping, found a list");
    const value = this.block();
    if (!this.eof) throw new Decline(this.line + this.ind, "Unexpected content after the policy");
    return value;
  }

  /** Move to the first line at or after `from` that holds more than spaces and a comment. */
  private seek(from: number): void {
    const t = this.t;
    const n = this.limit;
    let p = from;
    while (p < n) {
      let q = p;
      while (t.charCodeAt(q) === SPACE) q++;
      let nl = t.indexOf("\n", q);
      if (nl === -1) nl = n;
      const eol = nl > q && t.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      if (q < eol && t.charCodeAt(q) !== HASH) {
        this.line = p;
        this.ind = q - p;
        this.eol = eol;
        this.next = nl + 1;
        return;
      }
      p = nl + 1;
    }
    this.eof = true;
    this.ind = -1;
  }

  private advance(): void {
    this.seek(this.next);
  }

  /** "-" followed by a space or the end of the line. */
  private isItem(p: number): boolean {
    return this.t.charCodeAt(p) === DASH && (p + 1 >= this.eol || this.t.charCodeAt(p + 1) === SPACE);
  }

  private count(at: number): void {
    if (++this.values > this.maxValues) throw new Decline(at, `Policy holds more than ${this.maxValues} values`);
  }

  /** The block node (mapping or list) that starts on the current line, at its indentation. */
  private block(): unknown {
    const at = this.line + this.ind;
    if (++this.depth > this.maxDepth) throw new Decline(at, `Policy is nested more than ${this.maxDepth} levels deep`);
    const value = this.isItem(at) ? this.list(this.ind) : this.mapping(this.ind, at);
    this.depth--;
    return value;
  }

  /** The end of a plain key starting at p, or -1: key characters, then ":" and a space or the end of the line. */
  private keyEnd(p: number): number {
    const t = this.t;
    const first = t.charCodeAt(p);
    if (first === DASH || first === 0x2e) return -1; // "-" and "." start markers and items: the full reader's
    let q = p;
    while (q < this.eol && isKeyChar(t.charCodeAt(q))) q++;
    if (q === p || t.charCodeAt(q) !== COLON) return -1;
    if (q + 1 < this.eol && t.charCodeAt(q + 1) !== SPACE) return -1;
    return q;
  }

  /** A block mapping whose keys sit at column `ind`; its first key is at `first` on the current line. */
  /** The text at t[p, e): a short one (a name, an access) through keyText, a path sliced. */
  private shortText(p: number, e: number): string {
    return e - p <= SHORT_TEXT ? this.keyText(p, e) : this.t.slice(p, e);
  }

  /** The text of the key at t[p, ke). */
  private keyText(p: number, ke: number): string {
    const t = this.t;
    const slot = (ke - p) * 65536 + t.charCodeAt(p);
    const last = this.keys.get(slot);
    if (last !== undefined && t.startsWith(last, p)) return last;
    const key = t.slice(p, ke);
    this.keys.set(slot, key);
    return key;
  }

  private mapping(ind: number, first: number): unknown {
    const out: Record<string, unknown> = {};
    const kids = keyed();
    const where = place(first, this.next - 1, kids);
    this.count(first);
    let p = first;
    for (;;) {
      const ke = this.keyEnd(p);
      if (ke === -1) throw new Decline(p, "Expected a key followed by a colon");
      const key = this.keyText(p, ke);
      if (key.length > MAX_KEY) throw new Decline(p, "Key is too long");
      if (key.length <= 4 && NULL.test(key)) throw new Decline(p, "A key must be a plain string");
      const keyStart = p;
      this.path.push(key);
      const value = this.pairValue(ind, ke + 1);
      this.path.pop();
      const at = this.at;
      at.keyStart = keyStart;
      at.keyEnd = ke;
      const earlier = kids[key];
      if (earlier !== undefined) {
        this.duplicates.push({ path: [...this.path, key], keyStart, keyEnd: ke, firstKeyStart: earlier.keyStart! });
      } else {
        if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
        kids[key] = at;
      }
      if (this.eof || this.ind < ind) break;
      if (this.ind > ind) throw new Decline(this.line + this.ind, "Unexpected indentation");
      p = this.line + this.ind;
      if (this.isItem(p)) throw new Decline(p, "A list item where a key was expected");
    }
    this.at = where;
    return out;
  }

  /** The value after "key:" (at `after`, just past the colon); leaves the reader on the line after it. */
  private pairValue(ind: number, after: number): unknown {
    const t = this.t;
    let q = after;
    while (q < this.eol && t.charCodeAt(q) === SPACE) q++;
    if (q >= this.eol || t.charCodeAt(q) === HASH) {
      const empty = Math.min(q, this.eol);
      this.advance();
      // The value is the block below, or a list at the key's own indentation ("key:\n- a").
      if (!this.eof && (this.ind > ind || (this.ind === ind && this.isItem(this.line + ind)))) return this.block();
      this.count(empty);
      this.at = place(empty, empty);
      return null;
    }
    const value = this.inline(q);
    this.advance();
    if (!this.eof && this.ind > ind) throw new Decline(this.line + this.ind, "A value continues on the next line");
    return value;
  }

  /** A block list whose "-" sit at column `ind`, starting on the current line. */
  private list(ind: number): unknown {
    const t = this.t;
    const out: unknown[] = [];
    const kids: Place[] = [];
    const where = place(this.line + ind, this.next - 1, kids);
    this.count(where.start);
    for (;;) {
      const dash = this.line + ind;
      let q = dash + 1;
      while (q < this.eol && t.charCodeAt(q) === SPACE) q++;
      this.path.push(out.length);
      let value: unknown;
      if (q >= this.eol || t.charCodeAt(q) === HASH) {
        const empty = Math.min(q, this.eol);
        this.advance();
        if (!this.eof && this.ind > ind) value = this.block();
        else {
          this.count(empty);
          value = null;
          this.at = place(empty, empty);
        }
      } else if (this.isItem(q)) {
        throw new Decline(q, "A list directly inside a list item");
      } else if (this.keyEnd(q) !== -1) {
        if (++this.depth > this.maxDepth) throw new Decline(q, `Policy is nested more than ${this.maxDepth} levels deep`);
        value = this.mapping(q - this.line, q);
        this.depth--;
      } else {
        value = this.inline(q);
        this.advance();
        if (!this.eof && this.ind > ind) throw new Decline(this.line + this.ind, "A value continues on the next line");
      }
      this.path.pop();
      kids.push(this.at);
      out.push(value);
      if (this.eof || this.ind < ind) break;
      if (this.ind > ind) throw new Decline(this.line + this.ind, "Unexpected indentation");
      if (!this.isItem(this.line + ind)) break; // the next key of the mapping that holds this list
    }
    this.at = where;
    return out;
  }

  /** A value that fits on the rest of the current line, starting at q, followed only by a comment. */
  private inline(q: number): unknown {
    const t = this.t;
    const c = t.charCodeAt(q);
    let value: unknown;
    if (c === 0x22 || c === 0x27) value = this.quoted(q);
    else if (c === 0x5b) value = this.flowList(q);
    else if (c === 0x7b) {
      if (t.charCodeAt(q + 1) !== 0x7d) throw new Decline(q, 'A "{...}" mapping');
      this.count(q);
      value = {};
      this.at = place(q, q + 2);
    } else {
      if (isIndicator(c)) throw new Decline(q, `A value starting with ${JSON.stringify(t[q])}`);
      let e = q;
      while (e < this.eol && !(t.charCodeAt(e) === HASH && t.charCodeAt(e - 1) === SPACE)) e++;
      while (e > q && t.charCodeAt(e - 1) === SPACE) e--;
      const s = this.shortText(q, e);
      if (s.includes(": ") || s.endsWith(":")) throw new Decline(q, 'A value containing ": "');
      this.count(q);
      this.at = place(q, e);
      return this.plain(s, q);
    }
    const end = this.at.end;
    let k = end;
    while (k < this.eol && t.charCodeAt(k) === SPACE) k++;
    if (k < this.eol && (t.charCodeAt(k) !== HASH || k === end)) throw new Decline(k, "Unexpected text after a value");
    return value;
  }

  private plain(s: string, at: number): unknown {
    const c = s.charCodeAt(0);
    // Only values starting with one of "~nNtTfF0-9+-." can be anything but a string.
    if (c === 0x7e || c === 0x6e || c === 0x4e) return NULL.test(s) ? null : s;
    if (c === 0x74 || c === 0x54) return TRUE.test(s) ? true : s;
    if (c === 0x66 || c === 0x46) return FALSE.test(s) ? false : s;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (SMALL_INT.test(s)) return Number(s);
      if (OTHER_NUMBER.test(s)) throw new Decline(at, "A number the fast reader leaves to the full one");
    }
    return s;
  }

  /** A one-line quoted string at q: "..." without escapes, or '...' with '' for a quote. */
  private quoted(q: number): string {
    const t = this.t;
    const quote = t[q]!;
    let k = q + 1;
    let value: string;
    if (quote === '"') {
      const close = t.indexOf('"', k);
      if (close === -1 || close >= this.eol) throw new Decline(q, "A quoted string that does not end on its line");
      value = t.slice(k, close);
      if (value.includes("\\")) throw new Decline(q, "A quoted string with escapes");
      k = close + 1;
    } else {
      for (;;) {
        const close = t.indexOf("'", k);
        if (close === -1 || close >= this.eol) throw new Decline(q, "A quoted string that does not end on its line");
        if (t.charCodeAt(close + 1) === 0x27) k = close + 2;
        else {
          k = close + 1;
          break;
        }
      }
      value = t.slice(q + 1, k - 1).replaceAll("''", "'");
    }
    this.count(q);
    this.at = place(q, k);
    return value;
  }

  /** A one-line list "[a, "b", 3]" at q. */
  private flowList(q: number): unknown[] {
    const t = this.t;
    const out: unknown[] = [];
    let kids: Place[] | undefined;
    this.count(q);
    const eol = this.eol;
    let k = q + 1;
    while (k < eol && t.charCodeAt(k) === SPACE) k++;
    if (t.charCodeAt(k) !== 0x5d) {
      for (;;) {
        if (k >= this.eol) throw new Decline(q, "A list that does not end on its line");
        const c = t.charCodeAt(k);
        let item: unknown;
        if (c === 0x22 || c === 0x27) item = this.quoted(k);
        else {
          if (isIndicator(c)) throw new Decline(k, `A list item starting with ${JSON.stringify(t[k])}`);
          let e = k;
          for (; e < this.eol; e++) {
            const d = t.charCodeAt(e);
            if (d === 0x2c || d === 0x5d) break;
            if (d === 0x5b || d === 0x7b || d === 0x7d || d === COLON || (d === HASH && t.charCodeAt(e - 1) === SPACE))
              throw new Decline(e, `A list item containing ${JSON.stringify(t[e])}`);
          }
          let end = e;
          while (end > k && t.charCodeAt(end - 1) === SPACE) end--;
          this.count(k);
          item = this.plain(this.shortText(k, end), k);
          this.at = place(k, end);
        }
        (kids ??= []).push(this.at);
        out.push(item);
        k = this.at.end;
        while (k < eol && t.charCodeAt(k) === SPACE) k++;
        const d = t.charCodeAt(k);
        if (d === 0x5d) break;
        if (d !== 0x2c) throw new Decline(k, 'Expected "," or "]" in a list');
        k++;
        while (k < eol && t.charCodeAt(k) === SPACE) k++;
        if (t.charCodeAt(k) === 0x5d) throw new Decline(k, 'A "," before "]"');
      }
    }
    this.at = place(q, k + 1, kids);
    return out;
  }
}

startupCode(Reader.prototype, place, isIndicator, isKeyChar);
