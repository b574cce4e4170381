// Which parts of a valid policy this version of bomfather enforces. `run` refuses a policy that
// uses anything else: bomfather never accepts a rule it cannot enforce.
//
// Edit ENFORCED as features land. Keys are key paths of the language, with "*" for a list index
// or a name ("files.*.allow"); "path=value" marks one value of a key ("network.default=deny"), and
// "path:directory" marks a file rule whose path is a directory. A key path missing from the table
// counts as not enforced, so a key added to the schema is refused until someone says otherwise
// (test/policy/support.test.ts checks that the table names every key of the schema).

import type { TSchema } from "@sinclair/typebox";
import { locate } from "./check.ts";
import { diagnostic, quote, type Diagnostic, type ValuePath } from "./diagnostic.ts";
import { PolicySchema, type Policy } from "./schema.ts";
import type { PathKind } from "./semantic.ts";

export const ENFORCED: Readonly<Record<string, boolean>> = Object.freeze({
  version: true,
  mode: true,

  executables: true,
  "executables.*.path": true,
  "executables.*.inherit": true,
  "executables.*.digest": false,

  files: true,
  "files.*.path": true,
  "files.*.path:directory": false, // a directory covering everything below it
  "files.*.allow": true,
  "files.*.allow.*.executable": true,
  "files.*.allow.*.access": true,
  "files.*.mode": true,

  network: false,
  "network.default": false,
  "network.destinations": false,
  "network.destinations.*.addresses": false,
  "network.destinations.*.hosts": false,
  "network.destinations.*.ports": false,
  "network.destinations.*.protocol": false,
  "network.destinations.*.allow": false,
  "network.destinations.*.mode": false,
  "network.confine": false,
  "network.confine.*.executable": false,
  "network.confine.*.to": false,
  "network.confine.*.mode": false,

  runtime: false,
  "runtime.environment": false,
  "runtime.environment.variables": false,
  "runtime.environment.action": false,
  "runtime.environment.protect": false,
  "runtime.environment.mode": false,
  "runtime.ptrace": false,
  "runtime.ptrace.protect": false,
  "runtime.ptrace.tracers": false,
  "runtime.ptrace.mode": false,
  "runtime.fileless": false,
  "runtime.fileless.allow": false,
  "runtime.fileless.mode": false,

  agent: true,
  "agent.keys": true,
  "agent.keys.*.name": true,
  "agent.keys.*.key": true,
  "agent.keys.*.allow": true,
  "agent.protection": true,
  "agent.protection.mode": true,
  "agent.protection.files": true,
  "agent.events": false,
  "agent.events.output": false,
  "agent.events.include": false,
});

const HINT = "remove it, or run a version that enforces it; bomfather never accepts a rule it cannot enforce";

export interface SupportOptions {
  /**
   * What each protected path is on the target host. When given, a file rule whose path is a
   * directory there is checked against "files.*.path:directory". A path written with a trailing
   * "/" is a directory whether or not this is given.
   */
  pathKind?: (path: string) => PathKind;
  /** The table to judge by; ENFORCED unless given (tests use this). */
  enforced?: Readonly<Record<string, boolean>>;
}

/** One error for every part of `policy` that this version does not enforce. Empty: run it. */
export function unsupported(policy: Policy, options: SupportOptions = {}): Diagnostic[] {
  const table = options.enforced ?? ENFORCED;
  const out: Diagnostic[] = [];
  const report = (path: ValuePath, at: "key" | "value", what: string): void => {
    const loc = locate(policy, path, at);
    out.push(diagnostic(loc.file, loc, "error", `${what} is not enforced by this version of bomfather`, path, HINT));
  };

  const walk = (schema: TSchema, value: unknown, path: ValuePath, pattern: string): void => {
    if (Array.isArray(schema.anyOf)) {
      const branch = (schema.anyOf as TSchema[]).find((b) => (b.type === "array") === Array.isArray(value));
      if (!branch) return;
      schema = branch;
    }
    if (schema.type === "object" && schema.properties && isObj(value)) {
      const props = schema.properties as Record<string, TSchema>;
      for (const [key, child] of Object.entries(value)) {
        const p = pattern === "" ? key : `${pattern}.${key}`;
        const childPath = [...path, key];
        if (table[p] !== true) {
          report(childPath, "key", quote(key));
          continue;
        }
        for (const [item, itemPath] of scalars(child, childPath)) {
          if (table[`${p}=${item}`] === false) report(itemPath, "value", quote(`${key}: ${item}`));
        }
        const childSchema = props[key];
        if (childSchema) walk(childSchema, child, childPath, p);
      }
    } else if (schema.type === "object" && schema.patternProperties && isObj(value)) {
      const child = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      for (const [name, v] of Object.entries(value)) walk(child, v, [...path, name], `${pattern}.*`);
    } else if (schema.type === "array" && Array.isArray(value)) {
      value.forEach((v, i) => walk(schema.items as TSchema, v, [...path, i], `${pattern}.*`));
    }
  };
  walk(PolicySchema, policy, [], "");

  if (table["files.*.path:directory"] !== true && table["files.*.path"] === true) {
    (policy.files ?? []).forEach((rule, i) => {
      const directory = (rule.path.length > 1 && rule.path.endsWith("/")) || options.pathKind?.(rule.path) === "directory";
      if (directory) report(["files", i, "path"], "value", `Protecting the directory ${quote(rule.path)}`);
    });
  }
  // The agent guards single files for now: a directory needs protected directories (files.*.path:directory).
  if (table["files.*.path:directory"] !== true && table["agent.protection.files"] === true) {
    (policy.agent?.protection?.files ?? []).forEach((path, i) => {
      const directory = (path.length > 1 && path.endsWith("/")) || options.pathKind?.(path) === "directory";
      if (directory) report(["agent", "protection", "files", i], "value", `Guarding the directory ${quote(path)}`);
    });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The scalar values at a key: the value itself, or each item of a list of scalars. */
function scalars(value: unknown, path: ValuePath): [string, ValuePath][] {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return [[String(value), path]];
  if (Array.isArray(value))
    return value.flatMap((v, i): [string, ValuePath][] =>
      typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? [[String(v), [...path, i]]] : [],
    );
  return [];
}
