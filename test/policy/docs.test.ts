// docs/policy.md documents every key of the language, and its complete examples check clean.

import { expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkPolicy, formatReport, PolicySchema } from "../../src/policy/index.ts";

const doc = readFileSync(join(import.meta.dir, "..", "..", "docs", "policy.md"), "utf8");

/** Every key as the docs name it: "files[].allow[].access", "executables.<name>.path". */
function documentedNames(schema: TSchema, prefix: string, out: string[]): string[] {
  if (Array.isArray(schema.anyOf)) {
    for (const b of schema.anyOf as TSchema[]) if (b.type === "object" || b.type === "array") documentedNames(b, prefix, out);
    return out;
  }
  if (schema.type === "object" && schema.properties) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
      const name = prefix === "" ? key : `${prefix}.${key}`;
      out.push(name);
      documentedNames(child, name, out);
    }
  } else if (schema.type === "object" && schema.patternProperties) {
    documentedNames(Object.values(schema.patternProperties as Record<string, TSchema>)[0]!, `${prefix}.<name>`, out);
  } else if (schema.type === "array" && (schema.items as TSchema).type === "object") {
    documentedNames(schema.items as TSchema, `${prefix}[]`, out);
  }
  return out;
}

test("every key has its own section in docs/policy.md", () => {
  const headings = new Set([...doc.matchAll(/^#{2,4} `([^`]+)`$/gm)].map((m) => m[1]));
  const missing = documentedNames(PolicySchema, "", []).filter((n) => !headings.has(n));
  expect(missing).toEqual([]);
});

test("every section has an example", () => {
  const sections = doc.split(/^(?=#{2,4} `)/m).filter((s) => s.startsWith("#"));
  const bare = sections.filter((s) => !s.includes("```")).map((s) => s.split("\n")[0]);
  expect(bare).toEqual([]);
});

test("complete examples in docs/policy.md pass check as written", () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.startsWith("version: 1"));
  expect(blocks.length).toBeGreaterThanOrEqual(4);
  for (const b of blocks) {
    const r = checkPolicy(b, "docs.yaml", { host: null });
    expect([b, r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)]).toEqual([b, []]);
    expect(r.policy).not.toBeNull();
  }
});

test("the example diagnostic in docs/policy.md is what check prints for demo.yaml with a typo", () => {
  const demo = readFileSync(join(import.meta.dir, "..", "..", "policies", "demo.yaml"), "utf8").replace("access: [read]", "access: raed");
  const r = checkPolicy(demo, "policies/demo.yaml", { host: null });
  const out = formatReport("policies/demo.yaml", r.diagnostics, r.text);
  expect(doc).toContain(out.trimEnd());
});
