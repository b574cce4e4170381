// `bomfather check`: the policy pipeline up to a checked value.
//
//   decode (decode.ts)     bytes -> text: size limit, UTF-8, no control characters
//   parse (parse.ts)       text -> plain value + where each value sits (SourceMap)
//   validate (validate.ts) value against the TypeBox schema (schema.ts)
//   meaning (semantic.ts)  names, references, addresses, ports, digests, keys, conflicts
//
// Every stage reports all it finds. A stage that cannot produce a usable value (binary input,
// broken YAML) stops the pipeline, since later messages would only be echoes of the first.

import { statSync } from "node:fs";
import { diagnostic, hasErrors, sortDiagnostics, type Diagnostic, type Span, type ValuePath } from "./diagnostic.ts";
import { decodePolicy } from "./decode.ts";
import { parsePolicyText, SourceMap } from "./parse.ts";
import type { Policy } from "./schema.ts";
import { checkMeaning, type Host, type PathKind } from "./semantic.ts";
import { STAGE_LIMIT, validateShape } from "./validate.ts";

/** Most diagnostics reported for one file; past this, one more says how many were left out. */
export const MAX_DIAGNOSTICS = 100;

export interface CheckOptions {
  /**
   * How to look at this machine's filesystem, to warn about paths that do not exist here.
   * Default: the real filesystem. `null`: judge the text alone.
   */
  host?: Host | null;
}

export interface CheckResult {
  /** The checked policy, exactly as written (defaults not filled in); null when there is any error. */
  policy: Policy | null;
  /** Errors and warnings, in source order. */
  diagnostics: Diagnostic[];
}

/** The real filesystem, following symbolic links as the kernel does when it opens a path. */
export const localHost: Host = {
  pathKind(path: string): PathKind {
    try {
      const st = statSync(path);
      return st.isFile() ? "file" : st.isDirectory() ? "directory" : "other";
    } catch {
      return "missing";
    }
  },
};

const sources = new WeakMap<object, SourceMap>();

/** Where a checked policy came from, for diagnostics and rule ids that point back at a line. */
export function sourceMapOf(policy: Policy): SourceMap | undefined {
  return sources.get(policy);
}

export interface Location extends Span {
  file: string;
}

/** The file, line and column of the value at `path` in a policy returned by checkPolicy. */
export function locate(policy: Policy, path: ValuePath, at: "key" | "value" = "value"): Location {
  const map = sources.get(policy);
  if (!map) return { file: "<policy>", line: 1, col: 1 };
  return { file: map.file, ...(at === "key" ? map.key(path) : map.value(path)) };
}

export function checkPolicy(text: string | Uint8Array, file: string, options: CheckOptions = {}): CheckResult {
  try {
    return check(text, file, options.host === undefined ? localHost : options.host);
  } catch (e) {
    // A bug in the checker, not in the policy. Say so plainly; never let it escape as a stack trace.
    const reason = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return {
      policy: null,
      diagnostics: [
        diagnostic(
          file,
          { line: 1, col: 1 },
          "error",
          `Internal error while checking this policy (${reason})`,
          [],
          "this is a bug in bomfather; please report it with the policy attached",
        ),
      ],
    };
  }
}

function check(input: string | Uint8Array, file: string, host: Host | null): CheckResult {
  const decoded = decodePolicy(input, file);
  if (!decoded.ok) return { policy: null, diagnostics: [decoded.diagnostic] };

  const parsed = parsePolicyText(decoded.text, file);
  if (parsed.value === undefined || hasErrors(parsed.diagnostics))
    return { policy: null, diagnostics: limit(sortDiagnostics(parsed.diagnostics)) };

  const value = parsed.value;
  const diagnostics = [...parsed.diagnostics];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const found = Array.isArray(value) ? "a list" : value === null ? "nothing" : `a ${typeof value}`;
    diagnostics.push(
      diagnostic(file, parsed.map.value([]), "error", `A policy must be a mapping, found ${found}`, [], 'start with "version: 1" on the first line'),
    );
    return { policy: null, diagnostics: limit(sortDiagnostics(diagnostics)) };
  }

  const shape = validateShape(value, parsed.map);
  const meaning = checkMeaning(value, parsed.map, host);
  diagnostics.push(...shape, ...meaning);
  const stopped = shape.length >= STAGE_LIMIT || meaning.length >= STAGE_LIMIT;
  const sorted = limit(sortDiagnostics(diagnostics), stopped);
  if (hasErrors(sorted)) return { policy: null, diagnostics: sorted };
  const policy = value as Policy;
  sources.set(policy, parsed.map);
  return { policy, diagnostics: sorted };
}

/** The first MAX_DIAGNOSTICS, then one saying how many more there are (`stopped`: at least). */
function limit(diags: Diagnostic[], stopped = false): Diagnostic[] {
  if (diags.length <= MAX_DIAGNOSTICS) return diags;
  const kept = diags.slice(0, MAX_DIAGNOSTICS);
  const rest = diags.slice(MAX_DIAGNOSTICS);
  const first = rest[0]!;
  const errors = rest.filter((d) => d.severity === "error").length;
  kept.push(
    diagnostic(
      first.file,
      { line: first.line, col: first.col },
      errors > 0 ? "error" : "warning",
      stopped ? `${rest.length} or more problems not shown` : `${rest.length} more problems not shown (${errors} errors)`,
      [],
      "fix the ones above and check again",
    ),
  );
  return kept;
}
