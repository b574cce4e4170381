// Every policy in policies/ checks clean, and `run` is told exactly which of its parts this version
// does not enforce yet (demo.yaml: none, since the VM demo runs it).

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkPolicy, formatDiagnostics, unsupported } from "../../src/policy/index.ts";

const dir = join(import.meta.dir, "..", "..", "policies");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

/** What each example uses that this version does not enforce, as "line: message". */
const NOT_YET: Record<string, string[]> = {
  "demo.yaml": [],
  "file-boundaries.yaml": ['34: Protecting the directory "/var/lib/postgresql/16/main/" is not enforced by this version of bomfather'],
  "ip-protection.yaml": [
    '12: "digest" is not enforced by this version of bomfather',
    '18: "network" is not enforced by this version of bomfather',
  ],
  "policy-inheritance.yaml": [
    '16: Protecting the directory "/data/training-set/" is not enforced by this version of bomfather',
    '21: Protecting the directory "/data/checkpoints/" is not enforced by this version of bomfather',
    '28: "network" is not enforced by this version of bomfather',
  ],
  "ptrace-defense.yaml": ['13: "runtime" is not enforced by this version of bomfather'],
  "self-protection.yaml": [
    '34: Guarding the directory "/etc/bomfather/" is not enforced by this version of bomfather',
    '36: "events" is not enforced by this version of bomfather',
  ],
};

describe("policies/", () => {
  test("holds the five product examples and the demo", () => {
    expect(files).toEqual(Object.keys(NOT_YET).sort());
  });

  for (const name of files) {
    test(`${name} checks clean`, () => {
      const text = readFileSync(join(dir, name), "utf8");
      const r = checkPolicy(text, `policies/${name}`, { host: null });
      expect(formatDiagnostics(r.diagnostics, text)).toBe("");
      expect(r.policy).not.toBeNull();
      const refused = unsupported(r.policy!).map((d) => `${d.line}: ${d.message}`);
      expect(refused).toEqual(NOT_YET[name]!);
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
