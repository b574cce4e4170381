// Whether the file at a protected path can have been replaced since the agent named it, known
// without a stat(2) of each path: the directories of the paths, and every directory above them,
// are watched (inotify) before the paths are named; a path whose directories saw no entry created,
// removed or renamed, and whose mount table did not change, still names the file it named then.
// A start checks every protected path once its generation is in force (src/kernel/apply.ts):
// 10,000 stats are a tenth of a second of it under the VM's counted time, reading the watches'
// events a few system calls.
//
// Only where the watches see every change: directories on a local file system (fstypes.ts
// fsTypeLocal), reached without a symbolic link (the path as written is the directory's real path),
// a path whose last component is no symbolic link (the probe says so; its target's directory is
// not watched). Anything else, and a directory with any event, is checked by stat as before.
import { closeSync, openSync, realpathSync, statfsSync } from "node:fs";
import type { ProbedPath, Shim } from "../../ffi/shim.ts";
import { loadShim } from "./assets.ts";
import { fsTypeLocal } from "./fstypes.ts";

/** The directory of an absolute path; undefined for what a watch cannot vouch for. */
function split(path: string): { dir: string } | undefined {
  const slash = path.lastIndexOf("/");
  if (slash === -1 || path.charCodeAt(0) !== 0x2f || !isBase(path, slash + 1)) return undefined;
  return { dir: slash === 0 ? "/" : path.slice(0, slash) };
}

/** Whether `path`'s directory is `dir` (split(path).dir === dir), without slicing it. */
function inDir(path: string, dir: string): boolean {
  return path.lastIndexOf("/") === (dir === "/" ? 0 : dir.length) && path.startsWith(dir);
}

/** Whether path[from..] is a name in a directory: not empty, ".", or "..". */
function isBase(path: string, from: number): boolean {
  const n = path.length - from;
  return n > 0 && !(path.charCodeAt(from) === 0x2e && (n === 1 || (n === 2 && path.charCodeAt(from + 1) === 0x2e)));
}

/** "/a/b" -> ["/", "/a", "/a/b"]. */
function chainOf(dir: string): string[] {
  const out = ["/"];
  for (let i = dir.indexOf("/", 1); i !== -1; i = dir.indexOf("/", i + 1)) out.push(dir.slice(0, i));
  if (dir !== "/") out.push(dir);
  return out;
}

/**
 * What apply asks once a generation is in force: which paths still name the file named after the
 * watch began (a test of one path). The caller closes it once the generation is settled.
 */
export interface Since {
  unchanged(): (path: string) => boolean;
  close(): void;
}

export class Watch {
  private constructor(
    private readonly shim: Shim,
    private readonly fd: number,
    private readonly mountFd: number,
    /** Each directory of a path: the watch descriptors of it and every directory above it; null where a watch cannot vouch for it. */
    private readonly chains: Map<string, number[] | null>,
    private readonly watched: number,
  ) {}

  /**
   * Watches the directories of `paths` (to be named right after). null where this process cannot
   * watch at all (no inotify instance left): every path is then checked by stat.
   */
  static async start(paths: readonly string[]): Promise<Watch | null> {
    const shim = await loadShim();
    let mountFd: number;
    try {
      mountFd = openSync("/proc/self/mountinfo", "r");
    } catch {
      return null;
    }
    let fd: number;
    try {
      fd = shim.openWatch();
    } catch {
      closeSync(mountFd);
      return null;
    }
    const wds = new Map<string, number>();
    const watch = (dir: string): number => {
      let wd = wds.get(dir);
      if (wd === undefined) wds.set(dir, (wd = shim.watchDirectory(fd, dir)));
      return wd;
    };
    const chains = new Map<string, number[] | null>();
    let last: string | undefined;
    for (const path of paths) {
      if (last !== undefined && inDir(path, last)) continue; // paths come in runs of one directory
      const dir = split(path)?.dir;
      if (dir === undefined || chains.has(dir)) continue;
      last = dir;
      // Watched from the root down, each before the one below it is looked at: a directory
      // replaced meanwhile is an event of the one above it.
      const chain = chainOf(dir).map(watch);
      chains.set(dir, chain.every((wd) => wd >= 0) && vouched(dir) ? chain : null);
    }
    return new Watch(shim, fd, mountFd, chains, wds.size);
  }

  /**
   * Once the generation is in force: the paths whose file is still the one named after start()
   * (by the probe: `named`), as a test of one path. Reads the events queued until now.
   */
  unchanged(named: ReadonlyMap<string, ProbedPath>): (path: string) => boolean {
    const changed = this.shim.changedDirectories(this.fd, this.mountFd, this.watched);
    if (changed === "all") return () => false;
    const moved = new Set(changed);
    const quiet = new Set<string>();
    for (const [dir, chain] of this.chains) if (chain && !chain.some((wd) => moved.has(wd))) quiet.add(dir);
    // Asked for each protected path, in runs of one directory: the last directory's answer is kept.
    let lastDir: string | undefined;
    let lastQuiet = false;
    return (path) => {
      const p = named.get(path);
      if (p === undefined || p.link || p.key === null || (p.kind !== "file" && p.kind !== "directory")) return false;
      if (lastDir === undefined || !inDir(path, lastDir)) {
        const at = split(path);
        if (at === undefined) return false;
        lastDir = at.dir;
        lastQuiet = quiet.has(at.dir);
      }
      return lastQuiet && isBase(path, path.lastIndexOf("/") + 1);
    };
  }

  /** Since, for the paths the probe named after start(). */
  since(named: ReadonlyMap<string, ProbedPath>): Since {
    return { unchanged: () => this.unchanged(named), close: () => this.close() };
  }

  close(): void {
    closeSync(this.fd);
    closeSync(this.mountFd);
  }
}

/** A directory reached without a symbolic link, on a file system whose watches see every change. */
function vouched(dir: string): boolean {
  try {
    return realpathSync(dir) === dir && fsTypeLocal(Number(statfsSync(dir).type) >>> 0);
  } catch {
    return false;
  }
}
