// unsupported(): every part of a valid policy this version does not enforce is refused by line.

import { describe, expect, test } from "bun:test";
import { checkPolicy, ENFORCED, unsupported, type Policy } from "../../src/policy/index.ts";
import { schemaKeyPaths } from "../../src/policy/schema.ts";

function checked(text: string): Policy {
  const r = checkPolicy(text, "p.yaml", { host: null });
  if (!r.policy) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`).join("\n"));
  return r.policy;
}

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

  test("cannot be changed at run time", () => {
    expect(Object.isFrozen(ENFORCED)).toBe(true);
  });
});

describe("unsupported", () => {
  test("accepts the supported subset: mode, executables with path and inherit, files, grants, rule mode", () => {
    expect(unsupported(checked(BASE))).toEqual([]);
  });

  test("refuses a digest, at its key", () => {
    const text = BASE.replace("    inherit: false\n", `    digest: sha256:${"ab".repeat(32)}\n`);
    const d = unsupported(checked(text));
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({
      file: "p.yaml",
      line: 6,
      col: 5,
      endCol: 11,
      severity: "error",
      message: '"digest" is not enforced by this version of bomfather',
      hint: "remove it, or run a version that enforces it; bomfather never accepts a rule it cannot enforce",
      path: ["executables", "reader", "digest"],
    });
  });

  test("refuses each unsupported section once, at its key", () => {
    const text = `${BASE}network:
  default: deny
  destinations:
    kms:
      hosts: [kms.example.com]
      allow: [reader]
runtime:
  fileless: {}
agent:
  events:
    output: stderr
`;
    const d = unsupported(checked(text));
    expect(d.map((x) => [x.line, x.col, x.message])).toEqual([
      [13, 1, '"network" is not enforced by this version of bomfather'],
      [19, 1, '"runtime" is not enforced by this version of bomfather'],
      [22, 3, '"events" is not enforced by this version of bomfather'],
    ]);
  });

  test("reports only the parts still unsupported when a section lands", () => {
    const text = `${BASE}network:
  default: deny
  destinations:
    kms:
      hosts: [kms.example.com]
      ports: [443]
      allow: [reader]
`;
    const table = { ...ENFORCED, network: true, "network.default": true, "network.destinations": true, "network.destinations.*.ports": true, "network.destinations.*.allow": true };
    const d = unsupported(checked(text), { enforced: table });
    expect(d.map((x) => [x.line, x.message])).toEqual([[17, '"hosts" is not enforced by this version of bomfather']]);
  });

  test("can refuse one value of a key", () => {
    const d = unsupported(checked(BASE), { enforced: { ...ENFORCED, "files.*.allow.*.access=write": false } });
    expect(d.map((x) => [x.line, x.col, x.message])).toEqual([[11, 24, '"access: write" is not enforced by this version of bomfather']]);
  });

  test("refuses a directory written with a trailing slash", () => {
    const d = unsupported(checked(BASE.replace("/srv/secret.txt", "/srv/secrets/")));
    expect(d.map((x) => [x.line, x.col, x.message])).toEqual([[8, 11, 'Protecting the directory "/srv/secrets/" is not enforced by this version of bomfather']]);
  });

  test("refuses a directory the host says is one, through the pathKind hook", () => {
    const policy = checked(BASE.replace("/srv/secret.txt", "/srv/secrets"));
    expect(unsupported(policy)).toEqual([]);
    expect(unsupported(policy, { pathKind: () => "file" })).toEqual([]);
    const d = unsupported(policy, { pathKind: (p) => (p === "/srv/secrets" ? "directory" : "file") });
    expect(d.map((x) => x.message)).toEqual(['Protecting the directory "/srv/secrets" is not enforced by this version of bomfather']);
    expect(unsupported(policy, { pathKind: () => "directory", enforced: { ...ENFORCED, "files.*.path:directory": true } })).toEqual([]);
  });

  test("a key missing from the table is refused (fail closed)", () => {
    const { mode: _, ...table } = ENFORCED;
    const d = unsupported(checked(BASE), { enforced: table });
    expect(d.map((x) => [x.line, x.message])).toEqual([[2, '"mode" is not enforced by this version of bomfather']]);
  });

  test("a policy built by hand, without positions, is reported at 1:1", () => {
    const policy: Policy = { version: 1, runtime: { fileless: {} } };
    const d = unsupported(policy);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ file: "<policy>", line: 1, col: 1, path: ["runtime"] });
  });
});
