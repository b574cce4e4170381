// The compiled binary's command line: exit codes, diagnostics and refusals. No kernel needed:
// these run on the development machine, which cannot load BPF LSM programs.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const bin = join(root, "dist", "bomfather");
if (!existsSync(bin)) throw new Error(`${bin} is missing: run ./dev build first (./dev test does)`);

function run(...args: string[]) {
  const p = Bun.spawnSync([bin, ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

const dir = mkdtempSync(join(tmpdir(), "bomfather-cli-"));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe("usage errors exit 2 with a hint", () => {
  test.each([
    [[], "No command given"],
    [["frob"], 'Unknown command "frob"'],
    [["check"], "No policy file given"],
    [["check", "--jsn", "x.yaml"], 'Unknown option "--jsn" for "check"'],
    [["run"], "No policy given"],
    [["--policy"], 'Option "--policy" needs a value'],
    [["doctor", "--policy", "x"], 'Unknown option "--policy" for "doctor"'],
  ])("%p", (args, message) => {
    const r = run(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`bomfather: error: ${message}`);
    expect(r.err).toContain("hint: ");
    expect(r.err).not.toContain("    at "); // no stack trace
  });
});

test("--help and help COMMAND print usage and exit 0", () => {
  expect(run("--help").out).toContain("bomfather --policy FILE");
  for (const c of ["run", "check", "doctor", "version"]) {
    const r = run(c, "--help");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith(`Usage: bomfather ${c}`);
    expect(run("help", c).out).toBe(r.out);
  }
});

test("version names the kernel ABI", () => {
  const r = run("version");
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^bomfather \d+\.\d+\.\d+ \(kernel ABI \d+\)\n$/);
});

describe("check", () => {
  test("every example policy is valid", () => {
    const r = run("check", ...["demo", "file-boundaries", "ip-protection", "ptrace-defense", "policy-inheritance", "self-protection"].map((p) => `policies/${p}.yaml`));
    expect(r.code).toBe(0);
    expect(r.err).not.toContain("error:");
  });

  test("an invalid policy exits 1 with file:line:col, the source line, a caret and a hint", () => {
    const f = write("typo.yaml", "version: 1\nexecutables:\n  r:\n    path: /bin/cat\nfiles:\n  - path: /etc/shadow\n    allow:\n      - executable: r\n        access: raed\n");
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:9:17: error: Unknown access "raed"`);
    expect(r.err).toContain("   9 |         access: raed\n");
    expect(r.err).toContain("     |                 ^~~~\n");
    expect(r.err).toContain('hint: expected one of "read", "write"');
  });

  test("--json prints diagnostics as JSON", () => {
    const f = write("empty.yaml", "");
    const r = run("check", "--json", f);
    expect(r.code).toBe(1);
    const parsed = JSON.parse(r.out);
    expect(JSON.stringify(parsed)).toContain('"severity":"error"');
  });

  test("a missing file is an error naming it", () => {
    const r = run("check", join(dir, "nope.yaml"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("nope.yaml");
    expect(r.err).toContain("no such file");
  });

  test("binary input is a diagnostic, not a crash", () => {
    const f = join(dir, "binary.yaml");
    writeFileSync(f, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0xff, 0xfe]));
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:1:`);
    expect(r.err).not.toContain("internal error");
  });
});

describe("run", () => {
  test("refuses, before touching the kernel, what this version does not enforce", () => {
    const r = run("--policy", "policies/ip-protection.yaml");
    expect(r.code).toBe(1);
    expect(r.err).toContain('policies/ip-protection.yaml:18:1: error: "network" is not enforced by this version of bomfather');
    expect(r.err).toContain("refusing to start");
  });

  test("an invalid policy exits 1 with its diagnostics", () => {
    const r = run("--policy", write("bad.yaml", "version: 2\n"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.yaml:1:10: error:");
  });

  test("on a host that cannot enforce, doctor and run agree: exit 3, the reason and the fix", () => {
    const doctor = run("doctor");
    expect([0, 3]).toContain(doctor.code);
    if (doctor.code !== 3) return; // this host can enforce: the kernel suite covers that case
    expect(doctor.out).toContain("[FAIL]");
    expect(doctor.out).toContain("hint: ");
    expect(doctor.out).toContain("This host cannot enforce bomfather policies");
    const r = run("--policy", "policies/demo.yaml");
    expect(r.code).toBe(3);
    const failed = doctor.out.split("\n").filter((l) => l.startsWith("[FAIL]"));
    for (const line of failed) expect(r.err).toContain(line.slice(0, 40));
  });
});

test("the binary is one file that needs only glibc", () => {
  const p = Bun.spawnSync(["ldd", bin], { stdout: "pipe" });
  const libs = p.stdout
    .toString()
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
  expect(libs.length).toBeGreaterThan(0);
  for (const lib of libs) expect(lib).toMatch(/^(linux-vdso\.so\.1|libc\.so\.6|libpthread\.so\.0|libdl\.so\.2|libm\.so\.6|\/lib64\/ld-linux-x86-64\.so\.2)$/);
});
