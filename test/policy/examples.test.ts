// Every policy in policies/ is well formed, and `check` (like `run`) refuses exactly the parts this
// version does not enforce yet, each at its line (demo.yaml: none, since the VM demo runs it).

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkPolicy, ENFORCED } from "../../src/policy/index.ts";

const dir = join(import.meta.dir, "..", "..", "policies");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

/** What each example uses that this version does not enforce, as "line: message". */
const NOT_YET: Record<string, string[]> = {
  "demo.yaml": [],
  "file-boundaries.yaml": [],
  "ip-protection.yaml": [],
  "policy-inheritance.yaml": [],
  "ptrace-defense.yaml": [],
  "self-protection.yaml": [],
};

describe("policies/", () => {
  test("holds the five product examples and the demo", () => {
    expect(files).toEqual(Object.keys(NOT_YET).sort());
  });

  /** Every part of the language enforced: what a later version will make of these examples. */
  const EVERYTHING = Object.fromEntries(Object.keys(ENFORCED).map((k) => [k, true]));

  for (const name of files) {
    test(`${name}: check refuses only what this version does not enforce`, () => {
      const text = readFileSync(join(dir, name), "utf8");
      const r = checkPolicy(text, `policies/${name}`, { host: null });
      expect(r.diagnostics.map((d) => `${d.line}: ${d.message}`)).toEqual(NOT_YET[name]!);
      expect(r.policy === null).toBe(NOT_YET[name]!.length > 0);
    });

    test(`${name} is otherwise clean`, () => {
      const r = checkPolicy(readFileSync(join(dir, name), "utf8"), `policies/${name}`, { host: null, enforced: EVERYTHING });
      expect(r.diagnostics).toEqual([]);
      expect(r.policy).not.toBeNull();
    });
  }

  test("demo.yaml protects /srv/demo/secret.txt for /usr/local/bin/trusted-reader only", () => {
    const r = checkPolicy(readFileSync(join(dir, "demo.yaml")), "policies/demo.yaml", { host: null });
    const p = r.policy!;
    expect(p.files).toHaveLength(1);
    const rule = p.files![0]!;
    expect(rule.path).toBe("/srv/demo/secret.txt");
    expect(rule.allow).toHaveLength(1);
    expect(p.executables![rule.allow[0]!.executable]!.path).toBe("/usr/local/bin/trusted-reader");
    expect(rule.allow[0]!.access).toEqual(["read"]);
  });
});
