// The compiled checker of a policy's shape (TypeBox's code, generated at build time by the macro
// in src/policy/shape-code.ts) gives TypeBox's interpreter's answer: on every policy of the corpus,
// and on each of them with one value at a time made wrong (removed, replaced by another kind,
// or an unknown key added).

import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { parseFullYaml } from "../../src/policy/parse.ts";
import { PolicySchema } from "../../src/policy/schema.ts";
import { shapeCheckSource } from "../../src/policy/shape-code.ts";
import { compiledShapeCheck } from "../../src/policy/validate.ts";

const root = join(import.meta.dir, "..", "..");
const corpus = ["policies", "test/policy/invalid", "test/policy/warnings"].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => ({ name: `${dir}/${f}`, value: parseFullYaml(readFileSync(join(root, dir, f), "utf8"), f).value }))
    // A few policies are large on purpose (many rules, alias expansion): a one-value change of
    // each small one covers every kind of node already.
    .filter(({ value }) => JSON.stringify(value ?? null).length < 4096),
);

/** The value with the node at `path` changed by `change` (undefined: removed). */
function variants(value: unknown): unknown[] {
  const out: unknown[] = [];
  const visit = (node: unknown, rebuild: (replacement: unknown) => unknown): void => {
    for (const other of [undefined, null, 7, "x", [], {}, true]) out.push(rebuild(other));
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, (r) => rebuild(r === undefined ? node.filter((_, j) => j !== i) : node.map((x, j) => (j === i ? r : x)))));
    } else if (node !== null && typeof node === "object") {
      out.push(rebuild({ ...node, unknownKey: 1 }));
      for (const [k, v] of Object.entries(node)) {
        visit(v, (r) => {
          const copy: Record<string, unknown> = { ...node };
          if (r === undefined) delete copy[k];
          else copy[k] = r;
          return rebuild(copy);
        });
      }
    }
  };
  visit(value, (r) => r);
  return out;
}

test("the checker's source is TypeBox's for the schema as it is now", () => {
  expect(shapeCheckSource()).toBe(TypeCompiler.Code(PolicySchema));
});

test("the compiled checker agrees with TypeBox's interpreter on the corpus and on every one-value change", () => {
  const check = compiledShapeCheck();
  let accepted = 0;
  let refused = 0;
  expect(corpus.length).toBeGreaterThan(80);
  for (const { name, value } of corpus) {
    for (const v of [value, ...variants(value)]) {
      const expected = Value.Check(PolicySchema, v);
      if (check(v) !== expected) throw new Error(`${name}: the compiled checker says ${!expected} for ${JSON.stringify(v)}`);
      if (expected) accepted++;
      else refused++;
    }
  }
  // Both answers are exercised, many times.
  expect(accepted).toBeGreaterThan(500);
  expect(refused).toBeGreaterThan(5000);
});
