// What is below a protected directory on this host: every file, directory, symbolic link and
// node, found by walking the tree (lstat: links are not followed, file systems mounted inside are
// entered, a directory seen twice is walked once), then named as the kernel names each inode (its
// s_dev and i_ino as the LSM hooks see them). stat's names are the kernel's on most file systems;
// where the tree's own directory shows they are not (btrfs subvolumes, overlayfs), and on every
// other file system mounted inside, each entry is named by opening it (the probe).
import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import { kernelDev } from "../abi.ts";
import type { Unsound } from "./compile.ts";

export interface TreeEntry {
  path: string;
  /** The inode as the kernel names it (once named; stat's until then). */
  dev: number;
  ino: bigint;
  dir: boolean;
  /** Regular files and directories can be named by opening them; other entries keep stat's name. */
  openable: boolean;
  /** stat's st_dev:st_ino, which tells whether a later walk met the same inode. */
  seen: string;
  /** stat's st_dev. */
  stDev: bigint;
  /** Once named: why the kernel's name of it cannot be trusted to last (src/kernel/probe.ts). */
  unsound?: Unsound;
}

/** A directory as a walk found it: a later walk reads again only those that changed since. */
export interface WalkedDir {
  path: string;
  seen: string;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** When the walk that read it started (ns since the epoch, the clock of file times). */
  walkedNs: bigint;
}

export type TreeWalk =
  | {
      ok: true;
      entries: TreeEntry[];
      /** The directories read (for walkTree: the tree's own and all below it), each stat'ed before. */
      dirs: WalkedDir[];
      /** stat's st_dev and st_ino of the tree's own directory. */
      rootDev: bigint;
      rootIno: bigint;
      /** The st_dev on which stat names inodes as the kernel does (statNamesAlike); null: none. */
      statDev: bigint | null;
    }
  | { ok: false; why: string };

/** The kernel's (s_dev, i_ino) of the files and directories among paths (src/kernel/probe.ts kernelInodes). */
export type NameInodes = (paths: string[]) => Promise<Map<string, { dev: number; ino: bigint; unsound?: Unsound }>>;

/**
 * A directory changed within this long of a walk may have changed again within the same tick of
 * its file system's clock (times are that coarse): it is read again whatever its times say.
 */
const COARSE_NS = 2_000_000_000n;

/**
 * The inodes below `root` (not root itself), parents before what they hold, named as stat names
 * them. More than `limit` entries: refused (the caller says how many fit). Entries that vanish
 * while walked are left out; a directory that cannot be read fails the walk.
 */
export function walkTree(root: string, limit: number): TreeWalk {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const rootStat = statOf(root);
  if (!rootStat || !rootStat.isDirectory()) return { ok: false, why: `"${root}" is no longer a directory` };
  const entries: TreeEntry[] = [];
  const dirs: WalkedDir[] = [];
  const r = walkBelow(root, rootStat, new Set([idOf(rootStat)]), entries, dirs, limit, startedNs);
  return r ?? { ok: true, entries, dirs, rootDev: rootStat.dev, rootIno: rootStat.ino, statDev: null };
}

/**
 * What appeared below the directories of an earlier walk: the entries of each directory whose
 * times changed since (or that changed around that walk), and everything below directories the
 * earlier walk did not meet. Some may be known already: the caller tells by `seen`.
 */
export function walkChanges(earlier: readonly WalkedDir[], limit: number): { ok: true; entries: TreeEntry[]; dirs: WalkedDir[] } | { ok: false; why: string } {
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const known = new Set(earlier.map((d) => d.seen));
  const entries: TreeEntry[] = [];
  const dirs: WalkedDir[] = [];
  const newDirs: [string, BigIntStats][] = [];
  for (const d of earlier) {
    const st = statOf(d.path);
    if (!st || !st.isDirectory() || idOf(st) !== d.seen) continue; // gone or replaced: its parent changed, and is read again
    // An entry added, linked or renamed in sets the directory's mtime (and ctime).
    const recent = d.mtimeNs >= d.walkedNs - COARSE_NS;
    if (!recent && st.mtimeNs === d.mtimeNs && st.ctimeNs === d.ctimeNs) continue;
    const r = readEntries(
      d.path,
      st,
      dirs,
      (path, child) => {
        const id = idOf(child);
        if (child.isDirectory() && !known.has(id)) {
          known.add(id);
          newDirs.push([path, child]); // a directory new here: all of it, once its own entry is listed
        }
        return null;
      },
      entries,
      limit,
      startedNs,
    );
    if (r) return r;
  }
  for (const [path, st] of newDirs) {
    const r = walkBelow(path, st, known, entries, dirs, limit, startedNs);
    if (r) return r;
  }
  return { ok: true, entries, dirs };
}

/** Name entries as the kernel does (in place), except those `statNames` says stat names alike. */
export async function nameEntries(entries: TreeEntry[], name: NameInodes, statNames: (e: TreeEntry) => boolean = () => false): Promise<void> {
  const asked = entries.filter((e) => e.openable && !statNames(e));
  if (!asked.length) return;
  const keys = await name(asked.map((e) => e.path));
  for (const e of asked) {
    const k = keys.get(e.path);
    if (k) {
      e.dev = k.dev;
      e.ino = k.ino;
      if (k.unsound) e.unsound = k.unsound;
    }
  }
}

/** The walk, or why it cannot be protected: an entry whose kernel name does not last (nameEntries). */
export function soundWalk(walk: TreeWalk): TreeWalk {
  if (!walk.ok) return walk;
  const e = walk.entries.find((x) => x.unsound);
  return e ? { ok: false, why: `"${e.path}" is below it, and ${e.unsound!.why}` } : walk;
}

/**
 * The st_dev on which stat names inodes as the kernel does, judged by the tree's own directory
 * (rootKey: the kernel's name of it); null when they differ there.
 */
export function statNamesAlike(walk: Extract<TreeWalk, { ok: true }>, rootKey: { dev: number; ino: bigint } | null | undefined): bigint | null {
  return rootKey && rootKey.dev === kernelDev(walk.rootDev) && rootKey.ino === walk.rootIno ? walk.rootDev : null;
}

/** Everything below dir (already stat'ed, its id in `seen`): depth first, parents before their entries. */
function walkBelow(
  dir: string,
  st: BigIntStats,
  seen: Set<string>,
  entries: TreeEntry[],
  dirs: WalkedDir[],
  limit: number,
  walkedNs: bigint,
): { ok: false; why: string } | null {
  const stack: [string, BigIntStats][] = [[dir, st]];
  while (stack.length) {
    const [path, dst] = stack.pop()!;
    const r = readEntries(path, dst, dirs, (child, cst) => {
      if (!cst.isDirectory()) return null;
      const id = idOf(cst);
      if (seen.has(id)) return "skip"; // a bind mount of a directory already walked
      seen.add(id);
      stack.push([child, cst]);
      return null;
    }, entries, limit, walkedNs);
    if (r) return r;
  }
  return null;
}

/**
 * The entries of one directory (its stat taken before reading it, recorded in dirs). onEntry sees
 * each child first: "skip" leaves it out, a failure stops everything.
 */
function readEntries(
  dir: string,
  st: BigIntStats,
  dirs: WalkedDir[],
  onEntry: (path: string, st: BigIntStats) => "skip" | null,
  entries: TreeEntry[],
  limit: number,
  walkedNs: bigint,
): { ok: false; why: string } | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null; // removed meanwhile (or replaced by a file): nothing below it to label
    return { ok: false, why: `"${dir}" cannot be read (${code ?? String(e)})` };
  }
  dirs.push({ path: dir, seen: idOf(st), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, walkedNs });
  for (const name of names) {
    const path = join(dir, name);
    const cst = statOf(path);
    if (!cst) continue;
    if (onEntry(path, cst) === "skip") continue;
    const isDir = cst.isDirectory();
    entries.push({ path, dev: kernelDev(cst.dev), ino: cst.ino, dir: isDir, openable: isDir || cst.isFile(), seen: idOf(cst), stDev: cst.dev });
    if (entries.length > limit) return { ok: false, why: `more than ${limit} files and directories are below it` };
  }
  return null;
}

function idOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

function statOf(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}
