// Diagnostics for people (source line, underline, hint) and for CI (JSON).
//
//   policies/demo.yaml:9:15: error: Unknown access "raed"
//      9 |       access: raed
//        |               ^~~~
//   hint: expected one of "read", "write"

import type { Diagnostic } from "./diagnostic.ts";

/** Widest source excerpt shown; longer lines are cut around the column. */
const MAX_EXCERPT = 120;

/**
 * One block per diagnostic, each ending with a newline, separated by an empty line. `source` is
 * the text the diagnostics were computed from (the same file); pass "" to omit excerpts.
 */
export function formatDiagnostics(diags: readonly Diagnostic[], source: string | Uint8Array): string {
  const text = typeof source === "string" ? source : new TextDecoder("utf-8", { fatal: false }).decode(source);
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  return diags.map((d) => formatOne(d, lines)).join("\n");
}

function formatOne(d: Diagnostic, lines: readonly string[]): string {
  let out = `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}\n`;
  const raw = lines[d.line - 1];
  if (raw !== undefined && (raw.length > 0 || d.col === 1)) {
    const line = raw.replace(/\r$/, "").replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, "\uFFFD");
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
    errors: diags.filter((d) => d.severity === "error").length,
    warnings: diags.filter((d) => d.severity === "warning").length,
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
