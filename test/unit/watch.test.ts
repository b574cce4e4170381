// The watch that tells apply which protected paths still name the file named at a start or a
// reload (src/kernel/watch.ts), on this machine's file systems: every way of replacing the file at
// a path (renamed over, removed and created, linked, its directory or one above renamed, a mount)
// makes the paths of that directory, and only of that one, unknown; paths a watch cannot vouch
// for (a symbolic link in the directory's path or as the last component, not named, a directory
// outside the watch) are never vouched for.
import { afterAll, beforeEach, expect, test } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProbedPath } from "../../ffi/shim.ts";
import { Watch } from "../../src/kernel/watch.ts";

const root = mkdtempSync(join(tmpdir(), "bf-watch-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
let dir: string;
let a: string;
let b: string;
beforeEach(() => {
  dir = join(root, `case${n++}`);
  a = join(dir, "a");
  b = join(dir, "b");
  for (const d of [a, b]) mkdirSync(d, { recursive: true });
  for (const d of [a, b]) for (const f of ["x", "y"]) writeFileSync(join(d, f), f);
});

/** What the probe says of each path: named, a file, its last component a link or not (lstat). */
function named(paths: string[], link = new Set<string>()): Map<string, ProbedPath> {
  return new Map(
    paths.map((p) => {
      const st = statSync(p, { bigint: true });
      return [p, { kind: st.isDirectory() ? "directory" : "file", key: { dev: Number(st.dev), ino: st.ino }, stacked: false, fsType: 0, link: link.has(p) }];
    }),
  );
}

/** Watch the paths, name them, run `change`, then say which still name the same file. */
async function after(paths: string[], change: () => void, link = new Set<string>()): Promise<Record<string, boolean>> {
  const watch = await Watch.start(paths);
  expect(watch).not.toBeNull();
  const since = watch!.since(named(paths, link));
  try {
    change();
    const same = since.unchanged();
    return Object.fromEntries(paths.map((p) => [p.slice(dir.length + 1), same(p)]));
  } finally {
    since.close();
  }
}

const files = () => [join(a, "x"), join(a, "y"), join(b, "x"), join(b, "y")];

test("nothing changed: every path still names its file; a change inside a file changes nothing; an entry made above the directories changes them all", async () => {
  expect(await after(files(), () => {})).toEqual({ "a/x": true, "a/y": true, "b/x": true, "b/y": true });
  expect(await after(files(), () => writeFileSync(join(a, "x"), "new content"))).toEqual({ "a/x": true, "a/y": true, "b/x": true, "b/y": true });
  expect(await after(files(), () => writeFileSync(join(root, `unrelated-${n}`), "x"))).toEqual({ "a/x": false, "a/y": false, "b/x": false, "b/y": false });
  expect(await after(files(), () => mkdirSync(join(dir, "c", "d"), { recursive: true }))).toEqual({ "a/x": false, "a/y": false, "b/x": false, "b/y": false });
});

test("a file renamed over a path: its directory's paths are looked at again, the other directory's are not", async () => {
  const r = await after(files(), () => {
    writeFileSync(join(a, "new"), "swapped");
    renameSync(join(a, "new"), join(a, "x"));
  });
  expect(r).toEqual({ "a/x": false, "a/y": false, "b/x": true, "b/y": true });
});

test("removed and created again, a hard link made, a file removed", async () => {
  expect(await after(files(), () => (unlinkSync(join(b, "y")), writeFileSync(join(b, "y"), "again")))).toEqual({ "a/x": true, "a/y": true, "b/x": false, "b/y": false });
  expect(await after(files(), () => linkSync(join(a, "x"), join(b, "z")))).toEqual({ "a/x": true, "a/y": true, "b/x": false, "b/y": false });
  expect(await after(files(), () => unlinkSync(join(a, "y")))).toEqual({ "a/x": false, "a/y": false, "b/x": true, "b/y": true });
});

test("a directory of the paths renamed (and another put in its place), or one above it", async () => {
  // Renaming a is a change of the directory holding a and b: both are looked at again.
  const r = await after(files(), () => {
    renameSync(a, join(dir, "old-a"));
    mkdirSync(a);
    writeFileSync(join(a, "x"), "other");
  });
  expect(r).toEqual({ "a/x": false, "a/y": false, "b/x": false, "b/y": false });
});

test("the directory above the paths' directories renamed", async () => {
  const moved = await after(files(), () => renameSync(dir, `${dir}-moved`));
  expect(moved).toEqual({ "a/x": false, "a/y": false, "b/x": false, "b/y": false });
});

test("paths a watch cannot vouch for: a symbolic link in the directory's path, a last component that is a link, a path not named, a relative or odd path", async () => {
  symlinkSync(a, join(dir, "link"));
  const viaLink = join(dir, "link", "x");
  const paths = [join(a, "x"), viaLink, join(b, "x"), join(b, "y"), join(dir, "missing")];
  const watch = await Watch.start([...paths, "relative/x", `${b}/`, `${b}/.`]);
  const since = watch!.since(named([join(a, "x"), viaLink, join(b, "x"), join(b, "y"), `${b}/`, `${b}/.`, `${b}/..`], new Set([join(b, "y")])));
  try {
    const same = since.unchanged();
    expect(paths.map(same)).toEqual([true, false, true, false, false]);
    expect(["relative/x", `${b}/`, `${b}/.`, `${b}/..`, join(root, "elsewhere", "x")].map(same)).toEqual([false, false, false, false, false]);
    // Asked again in another order (the last directory's answer is kept between two questions).
    expect([join(b, "x"), `${b}/.`, join(a, "x"), viaLink, join(b, "x")].map(same)).toEqual([true, false, true, false, true]);
  } finally {
    since.close();
  }
});

test("a mount anywhere in this mount namespace: no path is vouched for", async () => {
  const target = join(dir, "mounted-on");
  writeFileSync(target, "");
  const r = await after(files(), () => {
    const m = Bun.spawnSync(["mount", "--bind", join(a, "x"), target]);
    expect(m.exitCode).toBe(0);
  });
  Bun.spawnSync(["umount", target]);
  expect(r).toEqual({ "a/x": false, "a/y": false, "b/x": false, "b/y": false });
});
