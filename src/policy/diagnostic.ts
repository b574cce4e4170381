// What every stage of the policy pipeline reports: a message pinned to a place in the policy text.

export type Severity = "error" | "warning";

/** A path into the policy value: keys and list indices, e.g. ["files", 0, "allow", 1, "access"]. */
export type ValuePath = (string | number)[];

export interface Diagnostic {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units (a tab counts as one). */
  col: number;
  /** Column just past the underlined text, on the same line; absent when only `col` is known. */
  endCol?: number;
  severity: Severity;
  /** Sentence case, values quoted: `Unknown access "raed"`. */
  message: string;
  /** How to fix it: `expected one of "read", "write"`. */
  hint?: string;
  /** The value the diagnostic is about ([] for the whole file). */
  path: ValuePath;
}

/** A place in the source text. */
export interface Span {
  line: number;
  col: number;
  endCol?: number;
}

export function diagnostic(
  file: string,
  span: Span,
  severity: Severity,
  message: string,
  path: ValuePath,
  hint?: string,
): Diagnostic {
  const d: Diagnostic = { file, line: span.line, col: span.col, severity, message, path };
  if (span.endCol !== undefined && span.endCol > span.col) d.endCol = span.endCol;
  if (hint !== undefined) d.hint = hint;
  return d;
}

/** Errors before warnings, each in position order; stable otherwise. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return diags
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        (a.d.severity === b.d.severity ? 0 : a.d.severity === "error" ? -1 : 1) ||
        (a.d.file === b.d.file ? 0 : a.d.file < b.d.file ? -1 : 1) ||
        a.d.line - b.d.line ||
        a.d.col - b.d.col ||
        a.i - b.i,
    )
    .map(({ d }) => d);
}

export function countDiagnostics(diags: readonly Diagnostic[]): { errors: number; warnings: number } {
  let errors = 0;
  for (const d of diags) if (d.severity === "error") errors++;
  return { errors, warnings: diags.length - errors };
}

/** "1 error", "3 warnings". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === "error");
}

/** `"a"`, `"a" and "b"`, `"a", "b" and "c"`. */
export function quoteList(values: readonly string[], conjunction = "and"): string {
  const q = values.map((v) => quote(v, Infinity));
  if (q.length <= 1) return q.join("");
  return `${q.slice(0, -1).join(", ")} ${conjunction} ${q[q.length - 1]}`;
}

/**
 * Up to `max` items for a message: all of them when they fit ("a, b", or "a and b" with
 * join " and "), else the first `max` and how many more ("a, b and 3 more").
 */
export function firstOf(items: readonly string[], max: number, join = ", "): string {
  if (items.length <= max) return items.join(join);
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

/** `"a", "b", "c"` as in `expected one of "read", "write"`. */
export function quoteAll(values: readonly string[]): string {
  return values.map((v) => quote(v, Infinity)).join(", ");
}

/** Quote a value for a message, shortening very long ones; unprintable characters are escaped. */
export function quote(value: string, max = 60): string {
  const v = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(v).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
