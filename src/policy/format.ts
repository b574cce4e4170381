// Diagnostics for people (source line, underline, hint) and for CI (JSON).
//
//   policies/demo.yaml:9:15: error: Unknown access "raed"
//      9 |       access: raed
//        |               ^~~~
//   hint: expected one of "read", "write"

import { countDiagnostics, plural, type Diagnostic } from "./diagnostic.ts";
import { DEFAULTS, type Policy } from "./schema.ts";

/** Characters never printed as they are: controls (tab aside) and the ones that reorder text. */
const UNPRINTABLE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Widest source excerpt shown; longer lines are cut around the column. */
const MAX_EXCERPT = 120;

/**
 * Most diagnostics printed for one file. A limit on printing only: every problem is checked, and
 * the verdict line and `check --json` count them all.
 */
export const MAX_PRINTED = 100;

/**
 * One block per diagnostic, each ending with a newline, separated by an empty line; errors come
 * first (checkPolicy orders them so). Past `limit` blocks, one line says how many more there are
 * and of which kind. `source` is the text the diagnostics were computed from (the same file);
 * pass "" to omit excerpts.
 */
export function formatDiagnostics(diags: readonly Diagnostic[], source: string | Uint8Array, limit = MAX_PRINTED): string {
  if (diags.length === 0) return "";
  const text = typeof source === "string" ? source : new TextDecoder("utf-8", { fatal: false }).decode(source);
  const shown = diags.slice(0, limit);
  // Only the lines the shown diagnostics point at are needed: split up to the last of them.
  const last = shown.reduce((m, d) => Math.max(m, d.line), 0);
  const lines = linesUpTo(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, last);
  let out = shown.map((d) => formatOne(d, lines)).join("\n");
  if (diags.length > shown.length) {
    const rest = countDiagnostics(diags.slice(shown.length));
    const what = [rest.errors ? plural(rest.errors, "error") : "", rest.warnings ? plural(rest.warnings, "warning") : ""].filter(Boolean).join(" and ");
    out += `\n${diags[0]!.file}: ${what} more not shown (at most ${limit} are printed; "bomfather check --json" lists them all)\n`;
  }
  return out;
}

/**
 * What `bomfather check` prints for one file: the diagnostics (at most `limit`), then a verdict
 * line counting them all. `text`: the policy's text, for excerpts (absent: none).
 */
export function formatReport(file: string, diags: readonly Diagnostic[], text: string | undefined, limit = MAX_PRINTED): string {
  const body = formatDiagnostics(diags, text ?? "", limit);
  return `${body}${body ? "\n" : ""}${formatVerdict(file, diags)}`;
}

/** The last line check prints for a file: "policies/demo.yaml: invalid, 1 error, 3 warnings". */
export function formatVerdict(file: string, diags: readonly Diagnostic[]): string {
  const { errors, warnings } = countDiagnostics(diags);
  const counts = [errors ? plural(errors, "error") : "", warnings ? plural(warnings, "warning") : ""].filter(Boolean);
  return `${file}: ${[errors ? "invalid" : "valid", ...counts].join(", ")}\n`;
}

function linesUpTo(text: string, count: number): string[] {
  const lines: string[] = [];
  let start = 0;
  while (lines.length < count) {
    const nl = text.indexOf("\n", start);
    if (nl === -1) {
      lines.push(text.slice(start));
      break;
    }
    lines.push(text.slice(start, nl));
    start = nl + 1;
  }
  return lines;
}

function formatOne(d: Diagnostic, lines: readonly string[]): string {
  let out = `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}\n`;
  const raw = lines[d.line - 1];
  if (raw !== undefined && (raw.length > 0 || d.col === 1)) {
    const line = raw.replace(/\r$/, "").replace(UNPRINTABLE, "\uFFFD");
    const { shown, caretAt, caretLen } = excerpt(line, d.col, d.endCol);
    const gutter = String(d.line).padStart(4);
    const pad = " ".repeat(gutter.length);
    const lead = Array.from(shown.slice(0, caretAt), (c) => (c === "\t" ? "\t" : " ")).join("");
    out += `${gutter} | ${shown}`.trimEnd() + "\n";
    out += `${pad} | ${lead}^${"~".repeat(Math.max(0, caretLen - 1))}\n`;
  }
  if (d.hint !== undefined) out += `hint: ${d.hint}\n`;
  return out;
}

/** The part of a line to show, the caret's index in it and the underline length. */
function excerpt(line: string, col: number, endCol: number | undefined): { shown: string; caretAt: number; caretLen: number } {
  const at = Math.min(Math.max(col - 1, 0), line.length);
  const end = Math.min(endCol !== undefined && endCol > col ? endCol - 1 : at + 1, Math.max(line.length, at + 1));
  if (line.length <= MAX_EXCERPT) return { shown: line, caretAt: at, caretLen: Math.max(1, end - at) };
  const start = Math.max(0, Math.min(at - 40, line.length - MAX_EXCERPT));
  const stop = Math.min(line.length, start + MAX_EXCERPT);
  const prefix = start > 0 ? "…" : "";
  const suffix = stop < line.length ? "…" : "";
  const caretAt = at - start + prefix.length;
  const caretLen = Math.max(1, Math.min(end, stop) - at);
  return { shown: prefix + line.slice(start, stop) + suffix, caretAt, caretLen };
}

/** The machine-readable form for `check --json`: one object, stable key order. */
export function formatDiagnosticsJson(diags: readonly Diagnostic[]): string {
  const out = {
    ...countDiagnostics(diags),
    diagnostics: diags.map((d) => ({
      file: d.file,
      line: d.line,
      col: d.col,
      ...(d.endCol !== undefined ? { endCol: d.endCol } : {}),
      severity: d.severity,
      message: d.message,
      ...(d.hint !== undefined ? { hint: d.hint } : {}),
      path: d.path,
    })),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/**
 * Which programs a valid policy protects while they run, and why (docs/policy.md, "runtime"): the
 * executables a file rule grants (by default), and those the runtime section names. Empty when
 * none is.
 */
export function formatRuntimeProtection(file: string, policy: Policy): string {
  const all = Object.keys(policy.executables ?? {});
  const granted = [...new Set((policy.files ?? []).flatMap((f) => f.allow.map((a) => a.executable)))];
  const { environment, ptrace, fileless } = policy.runtime ?? {};
  const lines: string[] = [];
  if (granted.length) lines.push(`they hold a grant, so they start in secure-execution mode, never traced, and nobody attaches to them: ${granted.join(", ")}`);
  if (environment) lines.push(`runtime.environment (${environment.action ?? DEFAULTS.envAction}): ${(environment.protect ?? all).join(", ") || "none"}`);
  if (ptrace) lines.push(`runtime.ptrace: ${(ptrace.protect ?? all).join(", ") || "none"}${ptrace.tracers?.length ? ` (tracers allowed: ${ptrace.tracers.join(", ")})` : ""}`);
  if (fileless) lines.push(`runtime.fileless: programs with no file name are refused${fileless.allow?.length ? ` (allowed: ${fileless.allow.join(", ")})` : ""}`);
  return lines.map((l) => `${file}: protected while they run: ${l}\n`).join("");
}
