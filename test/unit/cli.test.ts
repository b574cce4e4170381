// The compiled binary's command line: exit codes, diagnostics and refusals. No kernel needed:
// these run on the development machine, which cannot load BPF LSM programs.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };

const root = join(import.meta.dir, "..", "..");
const bin = join(root, "dist", "bomfather");
if (!existsSync(bin)) throw new Error(`${bin} is missing: run ./dev build first (./dev test does)`);

function run(...args: string[]) {
  const p = Bun.spawnSync([bin, ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** As another user, through setpriv (these tests run as root, as ./dev test does). */
const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];
function runAs(setpriv: string[], ...args: string[]) {
  const p = Bun.spawnSync(["setpriv", ...setpriv, bin, ...args], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (p.stderr.toString().startsWith("setpriv:")) throw new Error(`setpriv failed (are the tests running as root?): ${p.stderr}`);
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

const dir = mkdtempSync(join(tmpdir(), "bomfather-cli-"));
chmodSync(dir, 0o755); // readable by the other users some tests run as
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe("usage errors exit 2 with a hint", () => {
  test.each([
    [[], "No command given", "to enforce a policy: bomfather --policy FILE"],
    [["frob"], 'Unknown command "frob"', "commands: run, check, digest, doctor, shutdown, reload, sign, keygen, version"],
    [["chek", "x.yaml"], 'Unknown command "chek"', 'did you mean "check"?'],
    [["check"], "No policy file given", "usage: bomfather check"],
    [["check", "--jsn", "x.yaml"], 'Unknown option "--jsn" for "bomfather check"', 'did you mean "--json"?'],
    [["check", "-q", "x.yaml"], 'Unknown option "-q" for "bomfather check"', "see bomfather check --help"],
    [["check", "--json=yes", "x.yaml"], 'Option "--json" takes no value', 'write "--json" alone'],
    [["run"], "No policy given", "usage: bomfather run --policy FILE"],
    [["run", "policies/demo.yaml"], 'Unexpected argument "policies/demo.yaml" for "bomfather run"', "to enforce it: bomfather run --policy policies/demo.yaml"],
    [["--policy"], 'Option "--policy" needs a value', "for example: --policy policies/demo.yaml"],
    [["--policy", "--json"], 'Option "--policy" needs a value', "for example: --policy policies/demo.yaml"],
    [["--policy", "policies/demo.yaml", "extra"], 'Unexpected argument "extra" for "bomfather"', "usage: bomfather run --policy FILE"],
    [["doctor", "--policy", "x"], 'Unknown option "--policy" for "bomfather doctor"', "see bomfather doctor --help"],
    [["doctor", "extra"], 'Unexpected argument "extra" for "bomfather doctor"', "usage: bomfather doctor [--json]"],
    [["version", "extra"], 'Unexpected argument "extra" for "bomfather version"', "usage: bomfather version"],
    [["-v"], 'Unknown option "-v" for "bomfather"', 'did you mean "-V" (--version)?'],
    [["check", "-v", "x.yaml"], 'Unknown option "-v" for "bomfather check"', 'did you mean "-V" (--version)?'],
    [["help", "chek"], 'No help for "chek"', 'did you mean "check"?'],
  ])("%p", (args, message, hint) => {
    const r = run(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toBe(`bomfather: error: ${message}\nhint: ${r.err.split("hint: ")[1] ?? ""}`);
    expect(r.err).toContain(`hint: ${hint}`);
    expect(r.out).toBe("");
  });
});

test("--version and -V answer everywhere, like version", () => {
  const expected = run("version").out;
  expect(expected).toMatch(/^bomfather \d+\.\d+\.\d+ \(kernel ABI \d+\)\n$/);
  for (const args of [["--version"], ["-V"], ["check", "--version"], ["check", "-V", "x.yaml"], ["run", "-V"], ["doctor", "--version"], ["version", "-V"]]) {
    const r = run(...args);
    expect([args, r.code, r.out]).toEqual([args, 0, expected]);
  }
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

const VALID = "version: 1\nexecutables:\n  r:\n    path: /bin/cat\nfiles:\n  - path: /etc/hostname\n    allow:\n      - executable: r\n        access: read\n";

/** A policy using what this version does not enforce: a directory in agent.protection.files (line 12). */
const GUARDS_DIRECTORY = `${VALID}agent:\n  protection:\n    files: [/etc/bomfather/]\n`;

describe("check", () => {
  test("check refuses what run refuses, with the same message", () => {
    const f = write("guard-dir.yaml", GUARDS_DIRECTORY);
    const c = run("check", "policies/demo.yaml", f);
    expect(c.code).toBe(1);
    const line = `${f}:12:13: error: Guarding the directory "/etc/bomfather/" is not enforced by this version of bomfather`;
    expect(c.err).toContain(line);
    expect(c.err).toMatch(/\npolicies\/demo\.yaml: valid(, \d+ warnings?)?\n/);
    expect(c.err).toMatch(/guard-dir\.yaml: invalid, 1 error(, \d+ warnings?)?\n$/);
    const r = run("--policy", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(line);
  });

  test("a valid policy: check says which programs are protected while they run, and why", () => {
    const c = run("check", "policies/demo.yaml", "policies/ptrace-defense.yaml");
    expect(c.code).toBe(0);
    expect(c.err).toContain("policies/demo.yaml: protected while they run: they hold a grant, so they start in secure-execution mode, never traced, and nobody attaches to them: trusted-reader\n");
    expect(c.err).toContain("policies/ptrace-defense.yaml: protected while they run: runtime.ptrace: vault-agent, api (tracers allowed: gdb)\n");
    expect(c.err).toContain("policies/ptrace-defense.yaml: protected while they run: runtime.environment (deny): vault-agent, api\n");
  });

  test("an invalid policy exits 1 with file:line:col, the source line, a caret and a hint", () => {
    const f = write("typo.yaml", VALID.replace("access: read", "access: raed"));
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:9:17: error: Unknown access "raed"`);
    expect(r.err).toContain("   9 |         access: raed\n");
    expect(r.err).toContain("     |                 ^~~~\n");
    expect(r.err).toContain('hint: did you mean "read"? expected one of "read", "write"');
    expect(r.err).toEndWith(`\n${f}: invalid, 1 error\n`);
  });

  test("--json prints one object counting every diagnostic of every file", () => {
    const r = run("check", "--json", write("empty.yaml", ""), write("ok.yaml", VALID));
    expect(r.code).toBe(1);
    const parsed = JSON.parse(r.out);
    expect(parsed.errors).toBe(1);
    expect(parsed.warnings).toBe(0);
    expect(parsed.diagnostics.map((d: { message: string }) => d.message)).toEqual(["Policy is empty"]);
    expect(r.err).toBe("");
  });

  test("a policy outside plain block style goes through the full YAML reader, bundled in the binary", () => {
    const f = write("anchors.yaml", "version: 1\nexecutables: {r: {path: /bin/cat}}\nfiles:\n  - {path: /etc/hostname, allow: &g [{executable: r, access: raed}]}\n");
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:4:62: error: Unknown access "raed"`);
  });

  test("--help describes what check prints, --json as one object", () => {
    const r = run("check", "--help");
    expect(r.out).toContain('--json   print one JSON object instead: {"errors", "warnings", "diagnostics": [...]}');
    expect(r.out).not.toContain("array");
  });

  test("a missing file is an error naming it", () => {
    const r = run("check", join(dir, "nope.yaml"));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`bomfather`);
    expect(r.err).toContain(`Cannot read policy "${join(dir, "nope.yaml")}": no such file`);
  });

  test("binary input is a diagnostic without its bytes, not a crash", () => {
    const f = join(dir, "binary.yaml");
    writeFileSync(f, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0xff, 0xfe, 0x1b, 0x5b, 0x33, 0x31, 0x6d]));
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${f}:1:7: error: Invalid UTF-8 byte 0xff at offset 6\nhint: a policy must be UTF-8 text; is this a binary file or another encoding?\n\n${f}: invalid, 1 error\n`);
  });

  test("\"-\" reads standard input; \"--\" ends the options", () => {
    const p = Bun.spawnSync([bin, "check", "--", "-"], { cwd: root, stdin: new TextEncoder().encode(VALID.replace("access: read", "access: raed")), stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(1);
    expect(p.stderr.toString()).toContain('<stdin>:9:17: error: Unknown access "raed"');
    expect(p.stderr.toString()).toEndWith("<stdin>: invalid, 1 error\n");
    const f = write("-x.yaml", VALID);
    expect(run("check", "--", f).code).toBe(0);
  });

  test("directories, FIFOs and devices are refused without reading them; /dev/zero is not read to the end", () => {
    const fifo = join(dir, "fifo.yaml");
    Bun.spawnSync(["mkfifo", fifo]);
    for (const [path, kind] of [[dir, "a directory"], [fifo, "a FIFO"], ["/dev/null", "a character device"], ["/dev/zero", "a character device"]] as const) {
      const r = run("check", path);
      expect([path, r.code]).toEqual([path, 1]);
      expect(r.err).toContain(`Cannot read policy "${path}": it is ${kind}, not a regular file`);
      expect(r.err).toContain('hint: give the path of a policy file, or "-" to read standard input');
    }
  });

  test("standard input is read bounded: an endless stream is refused past the limit", () => {
    const p = Bun.spawnSync(["sh", "-c", `head -c 9000000 /dev/zero | "${bin}" check -`], { stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(1);
    expect(p.stderr.toString()).toContain('Policy "<stdin>" is too large (more than 8388608 bytes)');
  });

  test("a file over the size limit is refused before it is read", () => {
    const f = join(dir, "big.yaml");
    writeFileSync(f, "");
    Bun.spawnSync(["truncate", "-s", "9000000", f]);
    const r = run("check", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Policy "${f}" is too large (9000000 bytes)`);
  });
});

describe("run", () => {
  test("refuses, before touching the kernel, what this version does not enforce", () => {
    const f = write("guard-dir.yaml", GUARDS_DIRECTORY);
    const r = run("--policy", f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:12:13: error: Guarding the directory "/etc/bomfather/" is not enforced by this version of bomfather`);
    expect(r.err).toMatch(/\nbomfather: not starting: .*guard-dir\.yaml: invalid, 1 error(, \d+ warnings?)?\n$/);
  });

  test("an invalid policy exits 1 with its diagnostics", () => {
    const r = run("--policy", write("bad.yaml", "version: 2\n"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.yaml:1:10: error:");
  });

  test("on a host that cannot enforce, doctor and run agree: exit 3, the reason and the fix", () => {
    // Without capabilities no host can enforce, whatever its kernel: this runs the same everywhere.
    const doctor = runAs(NOBODY, "doctor");
    expect(doctor.code).toBe(3);
    expect(doctor.out).toContain("[FAIL] Capabilities to load and attach BPF LSM programs: missing CAP_DAC_READ_SEARCH, CAP_MAC_ADMIN, CAP_PERFMON, CAP_BPF (uid 65534)");
    expect(doctor.out).toContain("hint: run bomfather as root (sudo bomfather ...), or give it CAP_DAC_READ_SEARCH, CAP_MAC_ADMIN, CAP_PERFMON, CAP_BPF");
    expect(doctor.out).toContain("[FAIL] BPF LSM programs load, attach and run: not tried: the capabilities above are missing");
    expect(doctor.out).toEndWith("This host cannot enforce bomfather policies: bomfather will refuse to start here.\n");
    const r = runAs(NOBODY, "--policy", write("ok.yaml", "version: 1\nexecutables:\n  r:\n    path: /bin/cat\nfiles:\n  - path: /etc/hostname\n    allow:\n      - executable: r\n        access: read\n"));
    expect(r.code).toBe(3);
    const failed = doctor.out.split("\n").filter((l) => l.startsWith("[FAIL]"));
    expect(failed.length).toBeGreaterThan(0);
    for (const line of failed) expect(r.err).toContain(line);
  });
});

describe("capabilities, not uid 0", () => {
  test("a service with the needed capabilities and another uid passes the capability check", () => {
    const caps = "+bpf,+perfmon,+mac_admin,+dac_read_search";
    const r = runAs(["--reuid=65534", "--regid=65534", "--clear-groups", `--inh-caps=${caps}`, `--ambient-caps=${caps}`], "doctor", "--json");
    const check = JSON.parse(r.out).checks.find((c: { id: string }) => c.id === "capabilities");
    expect(check).toMatchObject({ status: "ok", detail: "CAP_DAC_READ_SEARCH, CAP_MAC_ADMIN, CAP_PERFMON, CAP_BPF (uid 65534)" });
  });

  test("one capability missing is named", () => {
    const caps = "+bpf,+mac_admin,+dac_read_search";
    const r = runAs(["--reuid=65534", "--regid=65534", "--clear-groups", `--inh-caps=${caps}`, `--ambient-caps=${caps}`], "doctor", "--json");
    const check = JSON.parse(r.out).checks.find((c: { id: string }) => c.id === "capabilities");
    expect(check).toMatchObject({ status: "fail", detail: "missing CAP_PERFMON (uid 65534)" });
  });

  test("doctor --json carries the version", () => {
    const r = run("doctor", "--json");
    expect([0, 3]).toContain(r.code);
    const parsed = JSON.parse(r.out);
    expect(parsed.version).toBe(pkg.version);
    expect(run("version").out).toContain(`bomfather ${parsed.version} (kernel ABI ${parsed.abi})`);
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
