// What this version does not enforce, and rules past the kernel's capacity, are errors of
// `check` itself (and so of `run`), each at its line.

import { describe, expect, test } from "bun:test";
import { MAP_LIMITS } from "../../src/abi.ts";
import { checkPolicy, ENFORCED, type Diagnostic } from "../../src/policy/index.ts";
import { schemaKeyPaths } from "../../src/policy/schema.ts";

const NOT_ENFORCED_HINT = "remove it, or run a version that enforces it; bomfather never accepts a rule it cannot enforce";

function check(text: string, enforced?: Record<string, boolean>): Diagnostic[] {
  return checkPolicy(text, "p.yaml", { host: null, ...(enforced ? { enforced } : {}) }).diagnostics;
}
const refusals = (d: Diagnostic[]) => d.filter((x) => x.hint === NOT_ENFORCED_HINT).map((x) => [x.line, x.col, x.message]);

const BASE = `version: 1
mode: monitor
executables:
  reader:
    path: /usr/local/bin/reader
    inherit: false
files:
  - path: /srv/secret.txt
    allow:
      - executable: reader
        access: [read, write]
    mode: enforce
`;

describe("the support table", () => {
  test("names every key of the language", () => {
    const missing = schemaKeyPaths().filter((p) => !(p in ENFORCED));
    expect(missing).toEqual([]);
  });

  test("names nothing that is not in the language", () => {
    const keys = new Set(schemaKeyPaths());
    const stray = Object.keys(ENFORCED).filter((k) => !keys.has(k.replace(/(=.*|:directory)$/, "")));
    expect(stray).toEqual([]);
  });

  test("decides what check accepts: turning a key off refuses it, turning it on accepts it", () => {
    expect(check(BASE)).toEqual([]);
    expect(refusals(check(BASE, { ...ENFORCED, "executables.*.inherit": false }))).toEqual([[6, 5, '"inherit" is not enforced by this version of bomfather']]);
    const digest = BASE.replace("    inherit: false\n", `    digest: sha256:${"ab".repeat(32)}\n`);
    expect(check(digest)).toEqual([]);
    expect(refusals(check(digest, { ...ENFORCED, "executables.*.digest": false }))).toHaveLength(1);
  });
});

describe("check refuses what this version does not enforce", () => {
  test("a digest, at its key", () => {
    const d = check(BASE.replace("    inherit: false\n", `    digest: sha256:${"ab".repeat(32)}\n`), { ...ENFORCED, "executables.*.digest": false });
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({
      file: "p.yaml",
      line: 6,
      col: 5,
      endCol: 11,
      severity: "error",
      message: '"digest" is not enforced by this version of bomfather',
      hint: NOT_ENFORCED_HINT,
      path: ["executables", "reader", "digest"],
    });
  });

  test("each unsupported section once, at its key", () => {
    const text = `${BASE}network:
  default: deny
  destinations:
    kms:
      hosts: [kms.example.com]
      allow: [reader]
runtime:
  environment: {}
agent:
  protection:
    files: [/etc/bomfather/]
`;
    expect(refusals(check(text))).toEqual([
      [23, 13, 'Guarding the directory "/etc/bomfather/" is not enforced by this version of bomfather'],
    ]);
  });

  test("only the parts still unsupported when a section lands", () => {
    const text = `${BASE}network:
  default: deny
  destinations:
    kms:
      hosts: [kms.example.com]
      ports: [443]
      allow: [reader]
`;
    const table = { ...ENFORCED, "network.destinations.*.hosts": false };
    expect(refusals(check(text, table)).map(([line, , message]) => [line, message])).toEqual([[17, '"hosts" is not enforced by this version of bomfather']]);
  });

  test("one value of a key", () => {
    expect(refusals(check(BASE, { ...ENFORCED, "files.*.allow.*.access=write": false }))).toEqual([[11, 24, '"access: write" is not enforced by this version of bomfather']]);
  });

  test("a directory written with a trailing slash is enforced; a directory the agent guards is not yet", () => {
    expect(refusals(check(BASE.replace("/srv/secret.txt", "/srv/secrets/")))).toEqual([]);
    expect(refusals(check(BASE.replace("/srv/secret.txt", "/srv/secrets/"), { ...ENFORCED, "files.*.path:directory": false }))).toEqual([
      [8, 11, 'Protecting the directory "/srv/secrets/" is not enforced by this version of bomfather'],
    ]);
  });

  test("a directory on this machine written without the slash is a warning that says what it covers", () => {
    const d = checkPolicy(BASE.replace("/srv/secret.txt", "/srv/secrets"), "p.yaml", { host: { pathKind: (p) => (p === "/srv/secrets" ? "directory" : "file") } }).diagnostics;
    expect(d.map((x) => [x.severity, x.message])).toEqual([["warning", 'Path "/srv/secrets" is a directory on this machine: the rule covers everything below it']]);
    expect(d[0]!.hint).toBe('write "/srv/secrets/" to make that plain');
  });

  test("a key missing from the table is refused (fail closed)", () => {
    const { mode: _, ...table } = ENFORCED;
    expect(refusals(check(BASE, table)).map(([line, , message]) => [line, message])).toEqual([[2, '"mode" is not enforced by this version of bomfather']]);
  });

  test("an unknown key is the schema's error only, not also unsupported", () => {
    const d = check(BASE.replace("mode: monitor", "mdoe: monitor"));
    expect(d.map((x) => x.message)).toEqual(['Unknown key "mdoe"']);
  });

  test("alongside every other error", () => {
    const d = check(BASE.replace("/srv/secret.txt", "/srv/secrets/").replace("access: [read, write]", "access: [raed]"), { ...ENFORCED, "files.*.path:directory": false });
    expect(d.map((x) => x.message)).toEqual(['Protecting the directory "/srv/secrets/" is not enforced by this version of bomfather', 'Unknown access "raed"']);
  });
});

describe("check refuses rules the kernel cannot hold", () => {
  const policy = (exes: number, files: number, grantsPerFile: number) => {
    let s = "version: 1\nexecutables:\n";
    for (let e = 0; e < exes; e++) s += `  e${e}:\n    path: /bin/e${e}\n`;
    s += "files:\n";
    for (let f = 0; f < files; f++) {
      s += `  - path: /srv/f${f}\n    allow:\n`;
      for (let g = 0; g < grantsPerFile; g++) s += `      - executable: e${(f + g) % exes}\n        access: read\n`;
    }
    return s;
  };
  const capacity = (d: Diagnostic[]) => d.filter((x) => x.message.includes("the kernel holds")).map((x) => [x.line, x.message]);

  test("executables", () => {
    expect(capacity(check(policy(MAP_LIMITS.exes, 1, 1)))).toEqual([]);
    expect(capacity(check(policy(MAP_LIMITS.exes + 1, 1, 1)))).toEqual([[2, `The policy needs ${MAP_LIMITS.exes + 1} executables; the kernel holds at most ${MAP_LIMITS.exes}`]]);
  });

  test("grants", () => {
    const files = Math.ceil((MAP_LIMITS.grants + 1) / 4);
    const d = check(policy(4, files, 4));
    expect(capacity(d)).toEqual([[11, `The policy needs ${files * 4} grants; the kernel holds at most ${MAP_LIMITS.grants}`]]);
  });
});
