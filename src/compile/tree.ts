// What is below a protected directory on this host: every file, directory, symbolic link and
// node, found by walking the tree (lstat: links are not followed, file systems mounted inside are
// entered, a directory seen twice is walked once), then named as the kernel names each inode (its
// s_dev and i_ino as the LSM hooks see them, which stat's st_dev is not on btrfs subvolumes and
// stacked file systems such as overlayfs).
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { kernelDev } from "../abi.ts";

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
}

export type TreeWalk = { ok: true; entries: TreeEntry[] } | { ok: false; why: string };

/** The kernel's (s_dev, i_ino) of the files and directories among paths (src/kernel/probe.ts kernelInodes). */
export type NameInodes = (paths: string[]) => Promise<Map<string, { dev: number; ino: bigint }>>;

/**
 * The inodes below `root` (not root itself), parents before what they hold, named as stat names
 * them. More than `limit` entries: refused (the caller says how many fit). Entries that vanish
 * while walked are left out; a directory that cannot be read fails the walk.
 */
export function walkTree(root: string, limit: number): TreeWalk {
  const entries: TreeEntry[] = [];
  const seen = new Set<string>();
  const rootStat = statOf(root);
  if (!rootStat || !rootStat.isDirectory()) return { ok: false, why: `"${root}" is no longer a directory` };
  seen.add(`${rootStat.dev}:${rootStat.ino}`);
  const dirs = [root];
  while (dirs.length) {
    const dir = dirs.pop()!;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue; // removed meanwhile (or replaced by a file): nothing below it to label
      return { ok: false, why: `"${dir}" cannot be read (${code ?? String(e)})` };
    }
    for (const name of names) {
      const path = join(dir, name);
      const st = statOf(path);
      if (!st) continue;
      const isDir = st.isDirectory();
      const id = `${st.dev}:${st.ino}`;
      if (isDir) {
        if (seen.has(id)) continue; // a bind mount of a directory already walked
        seen.add(id);
        dirs.push(path);
      }
      entries.push({ path, dev: kernelDev(st.dev), ino: st.ino, dir: isDir, openable: isDir || st.isFile(), seen: id });
      if (entries.length > limit) return { ok: false, why: `more than ${limit} files and directories are below it` };
    }
  }
  return { ok: true, entries };
}

/** Name entries as the kernel does (in place); those the kernel did not name keep stat's name. */
export async function nameEntries(entries: TreeEntry[], name: NameInodes): Promise<void> {
  const openable = entries.filter((e) => e.openable);
  if (!openable.length) return;
  const keys = await name(openable.map((e) => e.path));
  for (const e of openable) {
    const k = keys.get(e.path);
    if (k) {
      e.dev = k.dev;
      e.ino = k.ino;
    }
  }
}

function statOf(path: string) {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}
