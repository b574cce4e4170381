// Golden tests: each test/policy/invalid/<case>.yaml is checked and what `bomfather check` prints
// for it (diagnostics, then the verdict line) must equal <case>.expected byte for byte;
// test/policy/warnings/ holds valid policies whose warnings are pinned the same way. A case
// without its .expected fails. To write or refresh expectations, run with UPDATE_GOLDENS=1 and
// read every diff before committing it.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkPolicy, formatReport, hasErrors, type Host } from "../../src/policy/index.ts";

const update = process.env.UPDATE_GOLDENS === "1";

/** A pretend machine: anything under a "missing" directory is absent, the rest exists. */
export const fakeHost: Host = {
  pathKind: (path) => (path.includes("/missing/") ? "missing" : path.endsWith("/") ? "directory" : "file"),
};

function goldens(dir: string, expectValid: boolean): void {
  const root = join(import.meta.dir, dir);
  const cases = readdirSync(root)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.slice(0, -".yaml".length))
    .sort();

  for (const name of cases) {
    test(name, () => {
      const bytes = new Uint8Array(readFileSync(join(root, `${name}.yaml`)));
      const file = `test/policy/${dir}/${name}.yaml`;
      const result = checkPolicy(bytes, file, { host: fakeHost });
      const actual = formatReport(file, result.diagnostics, result.text);
      const expectedPath = join(root, `${name}.expected`);
      if (update) writeFileSync(expectedPath, actual);
      if (!existsSync(expectedPath)) throw new Error(`${expectedPath} is missing: write it with UPDATE_GOLDENS=1 and read it`);
      expect(actual).toBe(readFileSync(expectedPath, "utf8"));
      if (expectValid) {
        expect(result.policy).not.toBeNull();
        expect(result.diagnostics.length).toBeGreaterThan(0);
        expect(hasErrors(result.diagnostics)).toBe(false);
      } else {
        expect(result.policy).toBeNull();
        expect(hasErrors(result.diagnostics)).toBe(true);
      }
      for (const d of result.diagnostics) {
        expect(d.line).toBeGreaterThanOrEqual(1);
        expect(d.col).toBeGreaterThanOrEqual(1);
        expect(d.file).toBe(file);
      }
    });
  }

  test("every expectation has its policy", () => {
    const orphans = readdirSync(root)
      .filter((f) => f.endsWith(".expected"))
      .filter((f) => !existsSync(join(root, f.replace(/\.expected$/, ".yaml"))));
    expect(orphans).toEqual([]);
  });
}

describe("invalid policies", () => {
  goldens("invalid", false);
  test("there are at least 30 of them", () => {
    expect(readdirSync(join(import.meta.dir, "invalid")).filter((f) => f.endsWith(".yaml")).length).toBeGreaterThanOrEqual(30);
  });
});

describe("valid policies with warnings", () => {
  goldens("warnings", true);
});
