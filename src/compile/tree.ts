// What is below a protected directory on this host: every file, directory, symbolic link and
// node, by inode, found by walking the tree (lstat: links are not followed, file systems mounted
// inside are entered, a directory seen twice is walked once).
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { kernelDev } from "../abi.ts";

export interface TreeEntry {
  dev: number;
  ino: bigint;
  dir: boolean;
}

export type TreeWalk = { ok: true; entries: TreeEntry[] } | { ok: false; why: string };

/**
 * The inodes below `root` (not root itself), parents before what they hold. More than `limit`
 * entries: refused (the caller says how many fit). Entries that vanish while walked are left out.
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
      if (isDir) {
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue; // a bind mount of a directory already walked
        seen.add(id);
        dirs.push(path);
      }
      entries.push({ dev: kernelDev(st.dev), ino: st.ino, dir: isDir });
      if (entries.length > limit) return { ok: false, why: `more than ${limit} files and directories are below it` };
    }
  }
  return { ok: true, entries };
}

function statOf(path: string) {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}
