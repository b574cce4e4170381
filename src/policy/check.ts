// `bomfather check`: the policy pipeline up to a checked value.
//
//   decode (decode.ts)     bytes -> text: size limit, UTF-8, no control characters
//   parse (parse.ts)       text -> plain value + where each value sits (SourceMap)
//   validate (validate.ts) value against the TypeBox schema (schema.ts)
//   meaning (semantic.ts)  names, references, addresses, ports, digests, keys, conflicts
//   support (support.ts)   what this version of bomfather enforces, and how many rules fit
//
// Every stage reports all it finds: nothing is cut short by a count, and a limit applies only to
// printing (format.ts). A stage that cannot produce a usable value (binary input, broken YAML)
// stops the pipeline, since later messages would only be echoes of the first. What `run` would
// refuse from the text alone is an error here too; what depends on the host is a warning.

import { closeSync, openSync, readSync, statSync } from "node:fs";
import { diagnostic, sortDiagnostics, type Diagnostic, type Span, type ValuePath } from "./diagnostic.ts";
import { decodePolicy } from "./decode.ts";
import { parsePolicyText, SourceMap } from "./parse.ts";
import type { Policy } from "./schema.ts";
import { checkMeaning, type Host, type PathKind } from "./semantic.ts";
import { unsupported } from "./support.ts";
import { validateShape } from "./validate.ts";

export interface CheckOptions {
  /**
   * How to look at this machine's filesystem, to warn about paths that do not exist here.
   * Default: the real filesystem. `null`: judge the text alone.
   */
  host?: Host | null;
  /** What this version enforces (support.ts's ENFORCED unless given; tests use this). */
  enforced?: Readonly<Record<string, boolean>>;
  /**
   * A policy this text was likely edited from (a reload: the policy in force), as checkPolicy
   * returned it: the reading of what the edit left alone is taken from its own (src/policy/splice.ts).
   * The result is the same without it.
   */
  before?: Policy;
}

export interface CheckResult {
  /** The checked policy, exactly as written (defaults not filled in); null when there is any error. */
  policy: Policy | null;
  /** Errors, then warnings, each in source order. */
  diagnostics: Diagnostic[];
  /** The policy's text, for excerpts; absent when the input is not text (a binary file). */
  text?: string;
}

/** The real filesystem, following symbolic links as the kernel does when it opens a path. */
export const localHost: Host = {
  pathKind(path: string): PathKind {
    // "/srv/x/" names a directory: stat fails with ENOTDIR when /srv/x is a file, and the
    // question is what is there, so ask about the path without its final "/".
    const p = path.length > 1 ? path.replace(/\/+$/, "") || "/" : path;
    try {
      const st = statSync(p, { throwIfNoEntry: false }); // no exception to build for each missing path
      return st === undefined ? "missing" : st.isFile() ? "file" : st.isDirectory() ? "directory" : "other";
    } catch {
      return "missing";
    }
  },
  interpreter: scriptInterpreter,
};

/** The interpreter a file's "#!" line names, or undefined for any other file (or one that cannot be read). */
export function scriptInterpreter(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, n).toString("latin1");
    if (!text.startsWith("#!")) return undefined;
    return text.slice(2).split("\n")[0]!.trim().split(/\s+/)[0] ?? "";
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const sources = new WeakMap<object, SourceMap>();

/** Where a value is said to be when its policy did not come from checkPolicy (no source map). */
const NO_SOURCE = { file: "<policy>", line: 1, col: 1 } as const;

/**
 * Where each value of a checked policy starts (file, line, column), as locate() says, with the
 * policy's source map looked up once: a compiled rule carries one for each of thousands of rules.
 */
export function valueStarts(policy: Policy): (path: ValuePath) => { file: string; line: number; col: number } {
  const map = sources.get(policy);
  if (!map) return () => ({ ...NO_SOURCE });
  return (path) => map.valueStart(path);
}

/** valueStarts(policy) of [...list, i, field] (of [...list, i] without a field) for each of the first count items of the list at `list`, in one walk. */
export function itemStarts(policy: Policy, list: ValuePath, field: string | undefined, count: number): { file: string; line: number; col: number }[] {
  const map = sources.get(policy);
  if (!map) return Array.from({ length: count }, () => ({ ...NO_SOURCE }));
  return map.itemStarts(list, field, count);
}

export interface Location extends Span {
  file: string;
}

/** The file, line and column of the value at `path` in a policy returned by checkPolicy. */
export function locate(policy: Policy, path: ValuePath, at: "key" | "value" = "value"): Location {
  const map = sources.get(policy);
  if (!map) return { ...NO_SOURCE };
  return { file: map.file, ...(at === "key" ? map.key(path) : map.value(path)) };
}

export function checkPolicy(text: string | Uint8Array, file: string, options: CheckOptions = {}): CheckResult {
  try {
    return check(text, file, options);
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

function check(input: string | Uint8Array, file: string, options: CheckOptions): CheckResult {
  const host = options.host === undefined ? localHost : options.host;
  const decoded = decodePolicy(input, file);
  if (!decoded.ok) return { policy: null, diagnostics: [decoded.diagnostic] };
  const text = decoded.text;

  const beforeMap = options.before && sources.get(options.before);
  const parsed = parsePolicyText(text, file, beforeMap ? { value: options.before, map: beforeMap } : undefined);
  if (parsed.value === undefined) return { policy: null, diagnostics: sortDiagnostics(parsed.diagnostics), text };

  const value = parsed.value;
  const diagnostics = [...parsed.diagnostics];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const found = Array.isArray(value) ? "a list" : value === null ? "nothing" : `a ${typeof value}`;
    diagnostics.push(
      diagnostic(file, parsed.map.value([]), "error", `A policy must be a mapping, found ${found}`, [], 'start with "version: 1" on the first line'),
    );
    return { policy: null, diagnostics: sortDiagnostics(diagnostics), text };
  }

  diagnostics.push(
    ...validateShape(value, parsed.map),
    ...checkMeaning(value, parsed.map, host),
    ...unsupported(value, parsed.map, options.enforced),
  );
  const sorted = sortDiagnostics(diagnostics);
  if (sorted.length > 0 && sorted[0]!.severity === "error") return { policy: null, diagnostics: sorted, text };
  const policy = value as Policy;
  sources.set(policy, parsed.map);
  return { policy, diagnostics: sorted, text };
}
