// Stage 1: text to a plain value, remembering where every value came from.
//
// The `yaml` package parses the text into nodes with source ranges; we convert those nodes into
// plain objects and arrays ourselves (instead of `toJS`) so that we can record the position of every
// value and key under its value path (["files", 0, "allow", 1, "access"]), bound the work done
// (depth, number of values, alias expansion), and report duplicate keys in linear time.

import type * as Yaml from "yaml";
import type { Alias, Document, Node as YamlNode, YAMLError } from "yaml";
import { diagnostic, quote, type Diagnostic, type Span, type ValuePath } from "./diagnostic.ts";
import { readBlockStyle } from "./blockstyle.ts";
import { readAfterEdit } from "./splice.ts";
import { lineEndOf, lineStartsOf, SourceMap, type Place } from "./sourcemap.ts";

export { SourceMap } from "./sourcemap.ts";

/** The `yaml` package, loaded the first time a policy needs the full reader (most never do). */
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  return (yamlModule ??= require("yaml") as typeof Yaml);
}

/** Deepest nesting accepted. A policy needs about eight levels. */
export const MAX_DEPTH = 64;
/**
 * Most values a policy may hold: room for every rule the kernel holds (a file rule with one
 * grant is six values). The text's size limit bounds them too.
 */
export const MAX_VALUES = 1_000_000;
/** Most values aliases may expand to: a policy that uses aliases is short; this stops alias bombs. */
export const MAX_ALIAS_VALUES = 200_000;

export interface Parsed {
  /**
   * The plain value, or undefined when the text is not usable YAML. A value may come with
   * errors: a mapping pair that could not be kept (a duplicate or empty key) is left out.
   */
  value: unknown;
  map: SourceMap;
  diagnostics: Diagnostic[];
}

/**
 * Largest text the full YAML reader takes. Larger policies must be in the block style the fast
 * reader understands (blockstyle.ts): the full reader needs about 300 bytes of memory and a
 * microsecond per byte of policy.
 */
export const FULL_YAML_MAX_CHARS = 1024 * 1024;

/**
 * before: the reading of a text this one was edited from (a reload: the policy in force), when the
 * block-style reader read it: what the edit left alone is taken from it (splice.ts).
 */
export function parsePolicyText(text: string, file: string, before?: { value: unknown; map: SourceMap }): Parsed {
  const map = new SourceMap(file, text, lineStartsOf(text));
  const root = before?.map.tree();
  if (before && root && before.map.blockValues !== undefined) {
    const read = readAfterEdit({ text: before.map.text, value: before.value, root, values: before.map.blockValues }, text, MAX_DEPTH, MAX_VALUES);
    if (read) {
      map.setRoot(read.root);
      map.blockValues = read.values;
      return { value: read.value, map, diagnostics: [] };
    }
  }

  // Policies are nearly always plain block style, which the fast reader takes in one pass. It
  // declines anything else (anchors, flow mappings, multi-line strings, errors...), and the full
  // reader, which gives the best messages, takes over.
  const block = readBlockStyle(text, MAX_DEPTH, MAX_VALUES);
  if (block.ok) {
    map.setRoot(block.root);
    if (!block.duplicates.length) map.blockValues = block.values;
    const diagnostics = block.duplicates.map((d) => duplicateKey(file, map, d.path, d.keyStart, d.keyEnd, d.firstKeyStart));
    return { value: block.value, map, diagnostics };
  }
  if (text.length > FULL_YAML_MAX_CHARS) {
    const at = map.span(block.offset, block.offset + 1);
    return {
      value: undefined,
      map,
      diagnostics: [
        diagnostic(
          file,
          { line: at.line, col: at.col },
          "error",
          block.reason,
          [],
          `a policy over ${FULL_YAML_MAX_CHARS / (1024 * 1024)} MiB must be plain block style: one value per line, "- " lists, [a, b] lists of plain or quoted values, no anchors, aliases, tags, "{...}" mappings or multi-line strings`,
        ),
      ],
    };
  }
  return parseFullYaml(text, file, map);
}

/** The full YAML reader alone (parsePolicyText picks the reader; tests compare the two). */
export function parseFullYaml(text: string, file: string, map = new SourceMap(file, text, lineStartsOf(text))): Parsed {
  const diagnostics: Diagnostic[] = [];

  // The parser recurses once per level of nesting: deep input is slow long before it overflows
  // the stack. A policy needs a few levels, so refuse deep nesting before parsing.
  const deep = tooDeep(text, MAX_DEPTH);
  if (deep !== -1) {
    diagnostics.push(
      diagnostic(file, map.span(deep, deep + 1), "error", `Policy is nested more than ${MAX_DEPTH} levels deep`, [], "a policy needs only a few levels of nesting"),
    );
    return { value: undefined, map, diagnostics };
  }

  let doc: Document.Parsed;
  try {
    doc = yaml().parseDocument(text, {
      prettyErrors: false,
      uniqueKeys: false, // checked below in linear time; the library's check is quadratic
      strict: true,
      merge: false,
      version: "1.2",
      schema: "core",
      intAsBigInt: false,
    });
  } catch (e) {
    // The library reports stack exhaustion as an error; anything thrown is a bug we still contain.
    diagnostics.push(diagnostic(file, { line: 1, col: 1 }, "error", `The YAML parser failed: ${String(e)}`, []));
    return { value: undefined, map, diagnostics };
  }
  const seen = new Set<string>();
  const add = (d: Diagnostic): void => {
    const id = `${d.line}:${d.col}:${d.message}`;
    if (!seen.has(id)) diagnostics.push(d);
    seen.add(id);
  };
  for (const e of doc.errors) add(yamlDiagnostic(file, e, map, "error"));
  for (const w of doc.warnings) add(yamlDiagnostic(file, w, map, w.code === "TAG_RESOLVE_FAILED" ? "error" : "warning"));
  if (doc.directives?.yaml?.explicit && doc.directives.yaml.version !== "1.2") {
    diagnostics.push(
      diagnostic(file, { line: 1, col: 1 }, "error", `YAML ${doc.directives.yaml.version} is not supported`, [], 'remove the "%YAML" line; policies are YAML 1.2'),
    );
  }
  if (diagnostics.some((d) => d.severity === "error")) return { value: undefined, map, diagnostics };

  if (doc.contents === null || (yaml().isScalar(doc.contents) && doc.contents.value === null)) {
    diagnostics.push(
      diagnostic(file, { line: 1, col: 1 }, "error", "Policy is empty", [], 'a policy is a YAML mapping that starts with "version: 1"'),
    );
    return { value: undefined, map, diagnostics };
  }

  map.setRoot(placeOf(doc.contents, text) ?? { start: 0, end: 0 });
  const builder = new Builder(file, map, diagnostics);
  let value: unknown;
  try {
    value = builder.build(doc.contents, [], 0);
  } catch (e) {
    if (!(e instanceof Abort)) throw e;
    return { value: undefined, map, diagnostics };
  }
  // Errors that remain here (a duplicate key, an empty key) left out one pair of a mapping: the
  // rest is a usable value, and checking it reports every other problem too.
  return { value, map, diagnostics };
}

const YAML_HINTS: Record<string, string> = {
  TAB_AS_INDENT: "indent with spaces",
  MULTIPLE_DOCS: 'remove the "---" separator; a policy file holds one policy',
  DUPLICATE_KEY: "a key may appear only once in a mapping",
  MISSING_CHAR: "close the quote or bracket",
  BAD_INDENT: "check the indentation of this line against the lines above",
  TAG_RESOLVE_FAILED: "policies do not use YAML tags; remove it",
  RESOURCE_EXHAUSTION: "a policy needs only a few levels of nesting",
};

function yamlDiagnostic(
  file: string,
  e: YAMLError,
  map: SourceMap,
  severity: "error" | "warning",
): Diagnostic {
  const [start, end] = e.pos;
  let message = e.message.replace(/\s+/g, " ").trim();
  // The parser notices an unclosed quote or bracket where the text ends; point at the opening one.
  if (e.code === "MISSING_CHAR" || /end with an? [\]}]/.test(message)) {
    const opener = unclosedOpener(map.text, start);
    if (opener) {
      const span = map.span(opener.offset, opener.offset + 1);
      if (opener.char === '"' || opener.char === "'")
        return diagnostic(file, span, severity, "Unclosed quoted string", [], `the string that starts here needs a closing ${opener.char}`);
      const [what, closer] = opener.char === "[" ? ["list", "]"] : ["mapping", "}"];
      return diagnostic(file, span, severity, `Missing closing ${quote(closer)}`, [], `the ${what} that starts here is never closed`);
    }
  }
  if (e.code === "MULTIPLE_DOCS") message = "Policy contains more than one YAML document";
  else if (e.code === "RESOURCE_EXHAUSTION" && /call stack/i.test(message)) message = "Policy is nested too deeply";
  else if (e.code === "TAG_RESOLVE_FAILED") message = message.replace(/^Unresolved tag: (.*)$/, (_, t: string) => `Unknown tag ${quote(t)}`);
  message = message.charAt(0).toUpperCase() + message.slice(1);
  message = message.replace(/\.$/, "");
  return diagnostic(file, map.span(start, Math.max(end, start)), severity, message, [], YAML_HINTS[e.code] ?? "this is not valid YAML");
}

/**
 * Where a node sits. A block mapping or list "ends" with its first line: the readers agree on
 * that, and a span is cut at the end of its first line anyway.
 */
function placeOf(node: YamlNode | null | undefined, text: string): Place | undefined {
  const r = node?.range;
  if (!r) return undefined;
  const block = (yaml().isMap(node) || yaml().isSeq(node)) && !node.flow;
  return { start: r[0], end: block ? lineEndOf(text, r[0]) : r[1] };
}

/** The error for a key written twice in one mapping; the later pair is left out. */
function duplicateKey(file: string, map: SourceMap, path: ValuePath, keyStart: number, keyEnd: number, firstKeyStart: number): Diagnostic {
  return diagnostic(
    file,
    map.span(keyStart, keyEnd),
    "error",
    `Duplicate key ${quote(String(path[path.length - 1]))}`,
    path,
    `first written on line ${map.position(firstKeyStart).line}; a key may appear only once in a mapping`,
  );
}

class Abort extends Error {}

class Builder {
  #values = 0;
  #aliasValues = 0;
  /** Anchors defined so far, in document order (an alias refers to the latest before it). */
  #anchors = new Map<string, YamlNode>();
  /** The aliases being expanded, outermost first: anchors seen inside are old definitions, not new ones. */
  #expanding: { node: Alias; path: ValuePath }[] = [];

  constructor(
    private readonly file: string,
    private readonly map: SourceMap,
    private readonly diagnostics: Diagnostic[],
  ) {}

  #fail(span: Span, message: string, path: ValuePath, hint?: string): never {
    this.diagnostics.push(diagnostic(this.file, span, "error", message, path, hint));
    throw new Abort();
  }

  #error(span: Span, message: string, path: ValuePath, hint?: string): void {
    this.diagnostics.push(diagnostic(this.file, span, "error", message, path, hint));
  }

  #spanOf(node: { range?: readonly number[] | null } | null | undefined): Span {
    const r = node?.range;
    return r ? this.map.span(r[0]!, r[1]!) : { line: 1, col: 1 };
  }

  build(node: unknown, path: ValuePath, depth: number): unknown {
    const alias = this.#expanding[0];
    if (alias && ++this.#aliasValues > MAX_ALIAS_VALUES)
      this.#fail(
        this.#spanOf(alias.node),
        `Aliases expand this policy to more than ${MAX_ALIAS_VALUES} values`,
        alias.path,
        "this looks like an alias bomb; write the values out, a policy needs far fewer",
      );
    if (++this.#values > MAX_VALUES)
      this.#fail(this.#spanOf(node as YamlNode), `Policy holds more than ${MAX_VALUES} values`, path, "a policy needs far fewer values");
    if (depth > MAX_DEPTH) {
      this.#fail(this.#spanOf(node as YamlNode), `Policy is nested more than ${MAX_DEPTH} levels deep`, path, "a policy needs only a few levels of nesting");
    }
    if (node === null || node === undefined) return null;

    const n = node as YamlNode;
    if (!yaml().isAlias(n) && n.anchor && this.#expanding.length === 0) this.#anchors.set(n.anchor, n);

    if (yaml().isAlias(n)) return this.#alias(n, path, depth);
    if (yaml().isScalar(n)) {
      const v = n.value;
      if (v === null || typeof v === "string" || typeof v === "boolean") return v;
      if (typeof v === "number") return v;
      return n.source ?? String(v);
    }
    if (yaml().isSeq(n)) {
      const out: unknown[] = [];
      n.items.forEach((item, i) => {
        const p = [...path, i];
        this.map.set(p, placeOf(item as YamlNode | null, this.map.text) ?? { start: n.range?.[0] ?? 0, end: n.range?.[0] ?? 0 });
        out.push(this.build(item, p, depth + 1));
      });
      return out;
    }
    if (yaml().isMap(n)) {
      const out: Record<string, unknown> = {};
      const seen = new Map<string, number>();
      for (const pair of n.items) {
        const keyNode = pair.key as YamlNode | null;
        const kr = keyNode?.range;
        let key: string;
        if (yaml().isScalar(keyNode)) {
          const kv = keyNode.value;
          if (kv === null || kv === "") {
            this.#error(this.#spanOf(keyNode), "Empty key", path, "write a key before the colon");
            continue;
          }
          key = typeof kv === "string" ? kv : String(keyNode.source ?? kv);
        } else if (yaml().isAlias(keyNode)) {
          this.#error(this.#spanOf(keyNode), "An alias cannot be used as a key", path, "write the key out");
          continue;
        } else {
          this.#error(this.#spanOf(keyNode ?? n), "A key must be a plain string", path, "write a simple key such as \"path\"");
          continue;
        }
        const p = [...path, key];
        const first = seen.get(key);
        if (first !== undefined) {
          this.diagnostics.push(duplicateKey(this.file, this.map, p, kr?.[0] ?? 0, kr?.[1] ?? 0, first));
          continue;
        }
        seen.set(key, kr?.[0] ?? 0);
        const valueNode = pair.value as YamlNode | null;
        const vr = valueNode?.range;
        const place: Place = placeOf(valueNode, this.map.text) ?? { start: kr?.[1] ?? 0, end: kr?.[1] ?? 0 };
        if (kr) {
          place.keyStart = kr[0];
          place.keyEnd = kr[1];
        }
        if (valueNode && yaml().isScalar(valueNode) && valueNode.value === null && vr && vr[0] === vr[1]) {
          place.start = place.end = vr[0]; // an empty value: diagnostics point at its key
        }
        this.map.set(p, place);
        // Own data property even for "__proto__", so it is seen (and rejected) as an unknown key.
        Object.defineProperty(out, key, {
          value: this.build(valueNode, p, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    this.#fail(this.#spanOf(n), "Unsupported YAML node", path);
  }

  #alias(a: Alias, path: ValuePath, depth: number): unknown {
    const target = this.#anchors.get(a.source);
    if (!target) {
      // The library knows anchors we have not reached (an alias before its anchor is invalid YAML).
      this.#fail(this.#spanOf(a), `Unknown alias ${quote("*" + a.source)}`, path, `define the anchor "&${a.source}" before using it`);
    }
    this.#expanding.push({ node: a, path });
    try {
      return this.build(target, path, depth);
    } finally {
      this.#expanding.pop();
    }
  }
}

/**
 * The quote or flow bracket still open at `end`, by a light scan of the text: quotes and brackets
 * count only where a YAML value can start (after an indicator), and comments are skipped.
 */
export function unclosedOpener(text: string, end: number): { offset: number; char: string } | undefined {
  const stack: { offset: number; char: string }[] = [];
  let open: { offset: number; char: string } | undefined;
  let valueStart = true;
  const limit = Math.min(end, text.length);
  for (let i = 0; i < limit; i++) {
    const c = text[i]!;
    if (open) {
      if (open.char === '"' && c === "\\") i++;
      else if (open.char === "'" && c === "'" && text[i + 1] === "'") i++;
      else if (c === open.char) {
        open = undefined;
        valueStart = false;
      }
      continue;
    }
    if (c === "\n") {
      valueStart = true;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") continue;
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf("\n", i);
      i = nl === -1 ? limit : nl - 1;
      continue;
    }
    if (valueStart && (c === '"' || c === "'")) {
      open = { offset: i, char: c };
      continue;
    }
    if (valueStart && (c === "[" || c === "{")) {
      stack.push({ offset: i, char: c });
      continue;
    }
    if (stack.length > 0 && (c === "]" || c === "}")) {
      stack.pop();
      valueStart = false;
      continue;
    }
    const next = text[i + 1];
    const indicator = (c === ":" || c === "-" || c === "?") && (next === undefined || /\s/.test(next));
    valueStart = indicator || (stack.length > 0 && c === ",");
  }
  return open ?? stack[stack.length - 1];
}

/**
 * Offset of the first flow bracket or compact block indicator ("- - - x") nested deeper than
 * `max`, or -1. Same light scan as unclosedOpener: quotes and comments are skipped.
 */
export function tooDeep(text: string, max: number): number {
  let depth = 0;
  let open: string | undefined;
  let valueStart = true;
  let compact = 0; // block indicators since the start of the line
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (open) {
      if (open === '"' && c === "\\") i++;
      else if (open === "'" && c === "'" && text[i + 1] === "'") i++;
      else if (c === open) {
        open = undefined;
        valueStart = false;
      }
      continue;
    }
    if (c === "\n") {
      valueStart = true;
      compact = 0;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") continue;
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf("\n", i);
      i = nl === -1 ? text.length : nl - 1;
      continue;
    }
    if (valueStart && (c === '"' || c === "'")) {
      open = c;
      continue;
    }
    if (valueStart && (c === "[" || c === "{")) {
      if (++depth > max) return i;
      continue;
    }
    if (depth > 0 && (c === "]" || c === "}")) {
      depth--;
      valueStart = false;
      continue;
    }
    const next = text[i + 1];
    const indicator = (c === ":" || c === "-" || c === "?") && (next === undefined || /\s/.test(next));
    if (indicator && depth === 0 && ++compact > max) return i;
    valueStart = indicator || (depth > 0 && c === ",");
  }
  return -1;
}
