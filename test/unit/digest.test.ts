// `bomfather digest FILE...` against the oracle, fsverity-utils' `fsverity digest FILE...`: the
// whole output of the compiled binary must equal fsverity's byte for byte. fsverity must be
// installed (./dev installs the Debian package "fsverity"): without it these tests fail.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestFile, digestStream, FsverityDigest } from "../../src/digest.ts";

const root = join(import.meta.dir, "..", "..");
const bin = join(root, "dist", "bomfather");
if (!existsSync(bin)) throw new Error(`${bin} is missing: run ./dev build first (./dev test does)`);
const FSVERITY = Bun.which("fsverity");
if (!FSVERITY) throw new Error("fsverity (fsverity-utils) is missing: it is the oracle of these tests; install the Debian package fsverity (./dev setup does)");

// Made before the tests and removed after them (files of 64 MiB): not when the file is only loaded.
let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bomfather-digest-"));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[], stdin?: Uint8Array) {
  const p = Bun.spawnSync(cmd, { cwd: dir, stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", timeout: 15_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}
const bomfather = (...args: string[]) => run([bin, "digest", ...args]);
function oracle(...files: string[]): string {
  const r = run([FSVERITY!, "digest", ...files]);
  if (r.code !== 0) throw new Error(`fsverity digest ${files.join(" ")} failed: ${r.err}`);
  return r.out;
}

const BLOCK = 4096;
/** A file of `size` bytes in the test directory: random, or zeros. */
function file(name: string, size: number, zeros = false): string {
  writeFileSync(join(dir, name), zeros ? Buffer.alloc(size) : randomBytes(size));
  return name;
}

describe("the same line as fsverity digest, byte for byte", () => {
  test.each([
    ["empty", 0],
    ["one byte", 1],
    ["one block less a byte", BLOCK - 1],
    ["one block", BLOCK],
    ["one block and a byte", BLOCK + 1],
    ["two blocks", 2 * BLOCK],
    ["128 blocks (one full tree block)", 128 * BLOCK],
    ["128 blocks and a byte (a second tree level)", 128 * BLOCK + 1],
    ["129 blocks", 129 * BLOCK],
    ["128*128 blocks (a full second level)", 128 * 128 * BLOCK],
    ["128*128 blocks and a byte (a third level)", 128 * 128 * BLOCK + 1],
    ["several MB", 5 * 1024 * 1024 + 12345],
  ])("%s (%d bytes)", (_what, size) => {
    const name = file(`f${size}`, size);
    const r = bomfather(name);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe(oracle(name));
    expect(r.out).toMatch(/^sha256:[0-9a-f]{64} f\d+\n$/);
  });

  test("zeros (identical blocks) over several levels", () => {
    const name = file("zeros", 128 * BLOCK * 3 + 7, true);
    expect(bomfather(name).out).toBe(oracle(name));
  });

  test("the empty file's digest (root hash all zeros)", () => {
    const name = file("empty", 0);
    expect(bomfather(name).out).toBe(`sha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95 ${name}\n`);
    expect(bomfather(name).out).toBe(oracle(name));
  });

  test("several files in one call: one line each, in argument order", () => {
    const names = [file("m3", 3 * BLOCK + 5), file("m1", 1), file("m0", 0), file("m2", 200 * BLOCK)];
    names.push(names[1]!); // the same file twice is printed twice
    const r = bomfather(...names);
    expect(r.code).toBe(0);
    expect(r.out).toBe(oracle(...names));
    expect(r.out.split("\n").slice(0, -1).map((l) => l.split(" ")[1])).toEqual(names);
  });

  test("file names with spaces, absolute and relative paths, through a symbolic link", () => {
    mkdirSync(join(dir, "a dir"), { recursive: true });
    const spaced = file("a dir/my program  x", 9000);
    const absolute = join(dir, file("abs", 100));
    Bun.spawnSync(["ln", "-sf", "abs", join(dir, "link")]);
    const names = [spaced, absolute, "./abs", "link"];
    const r = bomfather(...names);
    expect(r.code).toBe(0);
    expect(r.out).toBe(oracle(...names));
    expect(r.out).toContain(" a dir/my program  x\n");
  });

  test('"-" reads standard input and prints "-"', () => {
    const bytes = randomBytes(3 * BLOCK + 17);
    writeFileSync(join(dir, "stdin-copy"), bytes);
    const r = run([bin, "digest", "-"], bytes);
    expect(r.code).toBe(0);
    expect(r.out).toBe(oracle("stdin-copy").replace(/ stdin-copy\n$/, " -\n"));
  });
});

describe("the module: any way the content is cut gives the same digest", () => {
  test("pieces of 7, 4095, 4096, 4097, 65536 bytes, of mixed sizes (0, 1, 3, ...), and the whole file", async () => {
    const name = file("pieces", 130 * BLOCK + 99);
    const want = oracle(name).split(" ")[0]!;
    expect(digestFile(join(dir, name))).toBe(want);
    const bytes = await Bun.file(join(dir, name)).bytes();
    for (const piece of [7, BLOCK - 1, BLOCK, BLOCK + 1, 65536]) {
      const parts: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; at += piece) parts.push(bytes.subarray(at, at + piece));
      expect(await digestStream(parts)).toBe(want);
    }
    const d = new FsverityDigest();
    let at = 0;
    for (let i = 0; at < bytes.length; i++) {
      const n = [1, 0, 4095, 3, 8192, 4096, 12289][i % 7]!;
      d.update(bytes.subarray(at, at + n));
      at += n;
    }
    expect(d.hex()).toBe(want);
    expect(() => d.update(bytes)).toThrow("update() after digest()");
    expect(() => d.digest()).toThrow("digest() called twice");
  });

  test("an async stream", async () => {
    const name = file("async", 20000);
    const stream = Bun.file(join(dir, name)).stream();
    expect(await digestStream(stream)).toBe(oracle(name).split(" ")[0]!);
  });
});

describe("errors name the file, exit 1, and the other files are still printed", () => {
  test.each([
    ["a missing file", () => "missing", 'Cannot digest "missing": no such file', "check the path"],
    ["a directory", () => (mkdirSync(join(dir, "sub"), { recursive: true }), "sub"), 'Cannot digest "sub": it is a directory, not a regular file', "give the path of a program's file"],
    ["a path through a file", () => `${file("plain", 1)}/x`, 'Cannot digest "plain/x": a component of the path is not a directory', "check the path"],
    ["a character device", () => "/dev/null", 'Cannot digest "/dev/null": it is a character device, not a regular file', "fs-verity digests regular files only"],
    [
      "a FIFO (refused at once, not waited on)",
      () => (Bun.spawnSync(["mkfifo", join(dir, "fifo")]), "fifo"),
      'Cannot digest "fifo": it is a FIFO, not a regular file',
      "fs-verity digests regular files only",
    ],
  ])("%s", (_what, make, message, hint) => {
    const bad = make();
    const good = file("good", 5000);
    const r = bomfather(good, bad, good);
    expect(r.code).toBe(1);
    expect(r.out).toBe(oracle(good, good));
    expect(r.err).toStartWith(`bomfather: error: ${message}\nhint: `);
    expect(r.err).toContain(hint);
    expect(r.err.split("\n").length).toBe(3);
  });

  test("a file its user cannot read", () => {
    const secret = file("secret", 10);
    chmodSync(join(dir, secret), 0o600);
    const p = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "digest", secret], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    if (p.stderr.toString().startsWith("setpriv:")) throw new Error(`setpriv failed (are the tests running as root?): ${p.stderr}`);
    expect(p.exitCode).toBe(1);
    expect(p.stdout.toString()).toBe("");
    expect(p.stderr.toString()).toBe(`bomfather: error: Cannot digest "secret": permission denied\nhint: check the file's permissions (reading it needs read access)\n`);
  });

  test("no file: usage error, exit 2", () => {
    const r = bomfather();
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toBe("bomfather: error: No file given\nhint: usage: bomfather digest FILE...\n");
  });

  test("an unknown option: usage error, exit 2", () => {
    const r = bomfather("--json", "x");
    expect(r.code).toBe(2);
    expect(r.err).toStartWith('bomfather: error: Unknown option "--json" for "bomfather digest"\n');
  });

  test("help", () => {
    const r = run([bin, "digest", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toStartWith("Usage: bomfather digest FILE...\n");
    expect(run([bin, "--help"]).out).toContain("bomfather digest FILE...");
  });
});

describe("a digest copied into a policy", () => {
  const policy = (digest: string) =>
    `version: 1\nexecutables:\n  r:\n    path: /bin/cat\n    digest: ${digest}\nfiles:\n  - path: /etc/hostname\n    allow:\n      - executable: r\n        access: read\n`;
  const line = () => bomfather("/bin/cat").out.trimEnd();

  test("the sha256:<hex> part is a well-formed digest for check", () => {
    writeFileSync(join(dir, "copied.yaml"), policy(line().split(" ")[0]!));
    const r = run([bin, "check", "copied.yaml"]);
    expect(r.err).not.toContain("Digest");
    expect(r.err).not.toContain("digest FILE");
  });

  test("the line pasted whole: check says what to remove and what to keep, naming both tools", () => {
    const [digest, path] = line().split(" ") as [string, string];
    writeFileSync(join(dir, "pasted.yaml"), policy(line()));
    const r = run([bin, "check", "pasted.yaml"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: Digest is followed by " ${path}"`);
    expect(r.err).toContain(`hint: remove " ${path}": "bomfather digest" and "fsverity digest" print the file name after the digest; keep "${digest}"`);
  });

  test("a bare sha256sum value: check says to run bomfather digest or fsverity digest", () => {
    const sum = run(["sha256sum", "/bin/cat"]).out.split(" ")[0]!;
    writeFileSync(join(dir, "bare.yaml"), policy(sum));
    const r = run([bin, "check", "bare.yaml"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('run "bomfather digest FILE" (or "fsverity digest FILE") and copy the "sha256:..." it prints');
  });
});
