// Which parts of the language this version of bomfather enforces, and how many rules the kernel
// holds. `check` and `run` refuse a policy that uses anything else: bomfather never accepts a
// rule it cannot enforce.
//
// Edit ENFORCED as features land. Keys are key paths of the language, with "*" for a list index
// or a name ("files.*.allow"); "path=value" marks one value of a key ("network.default=deny"), and
// "path:directory" marks a file rule whose path is a directory. A key path missing from the table
// counts as not enforced, so a key added to the schema is refused until someone says otherwise
// (test/policy/support.test.ts checks that the table names every key of the schema).

import type { TSchema } from "@sinclair/typebox";
import { ENV_PATTERNS, MAP_LIMITS } from "../abi.ts";
import { diagnostic, quote, type Diagnostic, type ValuePath } from "./diagnostic.ts";
import type { SourceMap } from "./parse.ts";
import { PolicySchema, schemaKeyPaths } from "./schema.ts";

export const ENFORCED: Readonly<Record<string, boolean>> = Object.freeze({
  version: true,
  mode: true,

  executables: true,
  "executables.*.path": true,
  "executables.*.inherit": true,
  "executables.*.digest": true,

  files: true,
  "files.*.path": true,
  "files.*.path:directory": true, // a directory covering everything below it
  "files.*.allow": true,
  "files.*.allow.*.executable": true,
  "files.*.allow.*.access": true,
  "files.*.mode": true,

  network: true,
  "network.default": true,
  "network.destinations": true,
  "network.destinations.*.addresses": true,
  "network.destinations.*.hosts": true,
  "network.destinations.*.ports": true,
  "network.destinations.*.protocol": true,
  "network.destinations.*.allow": true,
  "network.destinations.*.mode": true,
  "network.confine": true,
  "network.confine.*.executable": true,
  "network.confine.*.to": true,
  "network.confine.*.mode": true,

  runtime: true,
  "runtime.environment": true,
  "runtime.environment.variables": true,
  "runtime.environment.action": true,
  "runtime.environment.protect": true,
  "runtime.environment.mode": true,
  "runtime.ptrace": true,
  "runtime.ptrace.protect": true,
  "runtime.ptrace.tracers": true,
  "runtime.ptrace.mode": true,
  "runtime.fileless": true,
  "runtime.fileless.allow": true,
  "runtime.fileless.mode": true,

  agent: true,
  "agent.keys": true,
  "agent.keys.*.name": true,
  "agent.keys.*.key": true,
  "agent.keys.*.allow": true,
  "agent.protection": true,
  "agent.protection.mode": true,
  "agent.protection.files": true,
  "agent.protection.files:directory": false, // guarding a directory and what is below it for the agent
  "agent.events": true,
  "agent.events.output": true,
  "agent.events.include": true,
});

const HINT = "remove it, or run a version that enforces it; bomfather never accepts a rule it cannot enforce";

/**
 * One error for every part of `value` that this version does not enforce, and for rules that would
 * not fit in the kernel. Empty: `run` can load it. Judges the text alone: a path written with a
 * trailing "/" is a directory; what a path is on the host is `run`'s business (the compiler).
 * Reads the value defensively: parts of the wrong shape are the schema's to report.
 */
export function unsupported(value: unknown, map: SourceMap | undefined, table: Readonly<Record<string, boolean>> = ENFORCED): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (path: ValuePath, where: "key" | "value") => (map ? (where === "key" ? map.key(path) : map.value(path)) : { line: 1, col: 1 });
  const file = map?.file ?? "<policy>";
  const report = (path: ValuePath, where: "key" | "value", what: string): void => {
    out.push(diagnostic(file, at(path, where), "error", `${what} is not enforced by this version of bomfather`, path, HINT));
  };

  // Only the parts of the language that hold something not enforced need a visit: a 10,000-rule
  // "files" section that is all enforced is not walked rule by rule.
  const suspect = suspectPatterns(table);
  const walk = (schema: TSchema, value: unknown, path: ValuePath, pattern: string): void => {
    if (Array.isArray(schema.anyOf)) {
      const branch = (schema.anyOf as TSchema[]).find((b) => (b.type === "array") === Array.isArray(value));
      if (!branch) return;
      schema = branch;
    }
    if (schema.type === "object" && schema.properties && isObj(value)) {
      const props = schema.properties as Record<string, TSchema>;
      for (const key in value) {
        const childSchema = Object.hasOwn(props, key) ? props[key] : undefined;
        if (!childSchema) continue; // an unknown key: the schema reports it
        const p = pattern === "" ? key : `${pattern}.${key}`;
        if (table[p] !== true) {
          report([...path, key], "key", quote(key));
          continue;
        }
        if (!suspect.has(p)) continue;
        const child = value[key];
        for (const [item, itemPath] of scalars(child, [...path, key])) {
          if (table[`${p}=${item}`] === false) report(itemPath, "value", quote(`${key}: ${item}`));
        }
        walk(childSchema, child, [...path, key], p);
      }
    } else if (schema.type === "object" && schema.patternProperties && isObj(value)) {
      const child = Object.values(schema.patternProperties as Record<string, TSchema>)[0]!;
      for (const name in value) walk(child, value[name], [...path, name], `${pattern}.*`);
    } else if (schema.type === "array" && Array.isArray(value)) {
      value.forEach((v, i) => walk(schema.items as TSchema, v, [...path, i], `${pattern}.*`));
    }
  };
  walk(PolicySchema, value, [], "");
  if (!isObj(value)) return out;

  const files = Array.isArray(value.files) ? value.files : [];
  if (table["files.*.path:directory"] !== true && table["files.*.path"] === true) {
    files.forEach((rule, i) => {
      const path = isObj(rule) ? rule.path : undefined;
      if (typeof path === "string" && path.length > 1 && path.endsWith("/"))
        report(["files", i, "path"], "value", `Protecting the directory ${quote(path)}`);
    });
  }

  // The agent guards single files for now (agent.protection.files:directory).
  const agent = isObj(value.agent) && isObj(value.agent.protection) ? value.agent.protection : undefined;
  if (table["agent.protection.files:directory"] !== true && table["agent.protection.files"] === true && agent && Array.isArray(agent.files)) {
    agent.files.forEach((path, i) => {
      if (typeof path === "string" && path.length > 1 && path.endsWith("/"))
        report(["agent", "protection", "files", i], "value", `Guarding the directory ${quote(path)}`);
    });
  }

  // The kernel's maps have a fixed size. Names that turn out to share a file on the host only
  // need fewer entries, so counting what is written is enough.
  const exes = isObj(value.executables) ? Object.keys(value.executables).length : 0;
  const net = isObj(value.network) ? value.network : {};
  const destinations = isObj(net.destinations) ? Object.values(net.destinations).filter(isObj) : [];
  const confine = Array.isArray(net.confine) ? net.confine.filter(isObj) : [];
  const length = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  // Grants: each file rule's allow, each destination's allow, each confinement's destinations.
  const grants =
    files.reduce((n: number, rule) => n + (isObj(rule) ? length(rule.allow) : 0), 0) +
    destinations.reduce((n: number, d) => n + length(d.allow), 0) +
    confine.reduce((n: number, c) => n + length(c.to), 0);
  const addresses = destinations.reduce((n: number, d) => n + length(d.addresses), 0);
  // runtime.fileless is one more entry of the executables map; each named executable's file, one
  // more protected file (it is immutable).
  const fileless = isObj(value.runtime) && isObj(value.runtime.fileless) ? 1 : 0;
  const variables = isObj(value.runtime) && isObj(value.runtime.environment) && Array.isArray(value.runtime.environment.variables) ? value.runtime.environment.variables : [];
  const capacity: { key: string; count: number; limit: number; noun: string }[] = [
    { key: "executables", count: exes + fileless, limit: MAP_LIMITS.exes, noun: "executables" },
    { key: "files", count: files.length + exes, limit: MAP_LIMITS.files, noun: "protected files (named executables' files included)" },
    { key: "files", count: grants, limit: MAP_LIMITS.grants, noun: "grants" },
    { key: "network", count: addresses, limit: MAP_LIMITS.dests, noun: "network addresses" },
    { key: "network", count: confine.length, limit: MAP_LIMITS.confined, noun: "confined executables" },
  ];
  capacity.push({ key: "runtime", count: variables.length, limit: ENV_PATTERNS, noun: "variables in runtime.environment" });
  for (const c of capacity) {
    if (c.count > c.limit)
      out.push(
        diagnostic(file, at([c.key], "key"), "error", `The policy needs ${c.count} ${c.noun}; the kernel holds at most ${c.limit}`, [c.key], "split the policy across hosts, or name fewer files"),
      );
  }
  return out;
}

/**
 * The key paths under which something may be refused: a key the table does not mark enforced
 * (a key it does not name is refused), or one of its values marked not enforced ("path=value").
 * A key path is suspect when it or anything below it is.
 */
function suspectPatterns(table: Readonly<Record<string, boolean>>): Set<string> {
  const suspect = new Set<string>();
  const valueRules = Object.keys(table).filter((k) => k.includes("=") && table[k] === false).map((k) => k.slice(0, k.indexOf("=")));
  for (const kp of [...schemaKeyPaths(), ...valueRules]) {
    if (table[kp] === true && !valueRules.includes(kp)) continue;
    for (let p = kp; p !== ""; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") suspect.add(p);
  }
  return suspect;
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
