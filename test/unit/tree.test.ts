// Walking a protected directory (src/compile/tree.ts): everything below it, parents first, and a
// later walk that reads again only the directories whose times changed.
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { kernelDev } from "../../src/abi.ts";
import { nameEntries, soundWalk, statNamesAlike, walkChanges, walkTree } from "../../src/compile/tree.ts";

/** A tree whose directories' times are an hour old (not "recent" for a later walk). */
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), "bomfather-tree-"));
  mkdirSync(join(root, "a/b"), { recursive: true });
  mkdirSync(join(root, "c"));
  writeFileSync(join(root, "a/b/f"), "x");
  writeFileSync(join(root, "c/g"), "y");
  symlinkSync("/etc/hostname", join(root, "link"));
  const old = new Date(Date.now() - 3_600_000);
  for (const d of ["a/b", "a", "c", "."]) utimesSync(join(root, d), old, old);
  return root;
}

test("everything below the directory, parents before what they hold; links listed, not followed", () => {
  const root = tree();
  const w = walkTree(root, 100);
  if (!w.ok) throw new Error(w.why);
  const paths = w.entries.map((e) => relative(root, e.path));
  expect([...paths].sort()).toEqual(["a", "a/b", "a/b/f", "c", "c/g", "link"]);
  for (const e of w.entries) {
    const parent = relative(root, join(e.path, ".."));
    if (parent) expect(paths.indexOf(parent)).toBeLessThan(paths.indexOf(relative(root, e.path)));
  }
  expect(w.entries.find((e) => e.path.endsWith("link"))!.openable).toBe(false);
  expect(w.dirs.map((d) => relative(root, d.path)).sort()).toEqual(["", "a", "a/b", "c"]);
  expect(walkTree(root, 5)).toEqual({ ok: false, why: "more than 5 files and directories are below it" });
});

test("a later walk reads only the directories that changed, and all of a directory new there", () => {
  const root = tree();
  const w = walkTree(root, 100);
  if (!w.ok) throw new Error(w.why);
  expect(walkChanges(w.dirs, 100)).toEqual({ ok: true, entries: [], dirs: [] });
  writeFileSync(join(root, "c/new"), "z");
  mkdirSync(join(root, "a/b/d/e"), { recursive: true });
  writeFileSync(join(root, "a/b/d/e/deep"), "z");
  const later = walkChanges(w.dirs, 100);
  if (!later.ok) throw new Error(later.why);
  const paths = later.entries.map((e) => relative(root, e.path));
  // c and a/b changed: their entries, old and new; d is new: all of it, after its own entry
  expect([...paths].sort()).toEqual(["a/b/d", "a/b/d/e", "a/b/d/e/deep", "a/b/f", "c/g", "c/new"]);
  expect(paths.indexOf("a/b/d")).toBeLessThan(paths.indexOf("a/b/d/e"));
  expect(later.dirs.map((d) => relative(root, d.path)).sort()).toEqual(["a/b", "a/b/d", "a/b/d/e", "c"]);
});

test("a directory changed around the walk is read again whatever its times say (coarse clocks)", () => {
  const root = tree();
  const recent = new Date();
  utimesSync(join(root, "c"), recent, recent);
  const w = walkTree(root, 100);
  if (!w.ok) throw new Error(w.why);
  const later = walkChanges(w.dirs, 100);
  expect(later.ok && later.entries.map((e) => relative(root, e.path))).toEqual(["c/g"]);
});

test("stat's names are trusted on the file system where the kernel names the directory alike; elsewhere entries are named by the kernel", async () => {
  const root = tree();
  const w = walkTree(root, 100);
  if (!w.ok) throw new Error(w.why);
  expect(statNamesAlike(w, { dev: kernelDev(w.rootDev), ino: w.rootIno })).toBe(w.rootDev);
  expect(statNamesAlike(w, { dev: kernelDev(w.rootDev) + 1, ino: w.rootIno })).toBeNull();
  expect(statNamesAlike(w, null)).toBeNull();
  const asked: string[] = [];
  const name = async (paths: string[]) => {
    asked.push(...paths);
    return new Map(paths.map((p) => [p, { dev: 99, ino: 7n }]));
  };
  await nameEntries(w.entries, name, (e) => e.path.endsWith("/c"));
  expect(asked.map((p) => relative(root, p)).sort()).toEqual(["a", "a/b", "a/b/f", "c/g"]); // not c (trusted), not the link
  expect(w.entries.find((e) => e.path.endsWith("c/g"))!.dev).toBe(99);
  expect(w.entries.find((e) => e.path.endsWith("/c"))!.dev).toBe(kernelDev(w.rootDev));
});

test("a walk with an entry whose kernel name does not last cannot protect its directory, and says which", async () => {
  const root = tree();
  const w = walkTree(root, 100);
  if (!w.ok) throw new Error(w.why);
  expect(soundWalk(w)).toBe(w);
  const why = "it is on the overlay file system mounted on \"/x\", whose layers lie on different file systems";
  await nameEntries(w.entries, async (paths) => new Map(paths.map((p) => [p, p.endsWith("/g") ? { dev: 25, ino: 7n, unsound: { why, hint: "" } } : { dev: 1, ino: 2n }])));
  expect(soundWalk(w)).toEqual({ ok: false, why: `"${join(root, "c/g")}" is below it, and ${why}` });
});
