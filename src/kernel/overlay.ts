// Whether the kernel's names of inodes on a stacked file system last. An open of a file on
// overlayfs presents the overlay's own file to the LSM hooks first (then its layer's), and every
// hook on that path sees the overlay's inode. With all its layers on one file system, that inode's
// i_ino is its layer file's, unique and kept; with layers on several file systems (and no xino),
// two files of different layers share an i_ino, and a directory's i_ino is made up each time its
// inode is built, so a rule keyed on it could protect the wrong file, or nothing, a moment later.
import { readFileSync, statSync } from "node:fs";
import { mkdev } from "../abi.ts";

/** One overlayfs mount, as /proc/self/mountinfo shows it. */
export interface OverlayMount {
  /** The kernel's s_dev of the overlay (kernelDev encoding). */
  dev: number;
  mountPoint: string;
  /** Its layers' directories, upper first, as the mount's options name them. */
  layers: string[];
}

/** The octal escapes mountinfo writes (\040 a space, \072 a colon...). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The overlay mounted with s_dev dev among mountinfo's lines; null when no overlay has it. */
export function overlayMount(mountinfo: string, dev: number): OverlayMount | null {
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-", 6);
    if (dash < 0 || f[dash + 1] !== "overlay") continue;
    const [major, minor] = (f[2] ?? "").split(":").map(Number);
    if (mkdev(major ?? 0, minor ?? 0) !== dev) continue;
    const layers: string[] = [];
    for (const opt of (f[dash + 3] ?? "").split(",")) {
      const eq = opt.indexOf("=");
      const key = opt.slice(0, eq);
      const value = opt.slice(eq + 1);
      if (key === "upperdir") layers.unshift(unescape(value));
      else if (key === "lowerdir") layers.push(...value.split(":").filter(Boolean).map(unescape));
      else if (key === "lowerdir+" || key === "datadir+") layers.push(unescape(value));
    }
    return { dev, mountPoint: unescape(f[4] ?? ""), layers };
  }
  return null;
}

/**
 * Why the kernel's names of inodes on the stacked file system with s_dev dev cannot be trusted to
 * last; null when they can; undefined when dev is no overlay's (another stacked file system, such
 * as ecryptfs, keeps its lower file's inode number). stDevOf: stat's st_dev of a layer's directory.
 */
export function stackedUnsound(dev: number, mountinfo: string, stDevOf: (path: string) => bigint | null): string | null | undefined {
  const m = overlayMount(mountinfo, dev);
  if (!m) return undefined;
  if (!m.layers.length) return `it is on the overlay file system mounted on "${m.mountPoint}", whose layers its mount options do not name`;
  const devs = new Set<bigint>();
  for (const layer of m.layers) {
    const d = stDevOf(layer);
    if (d === null) return `it is on the overlay file system mounted on "${m.mountPoint}", whose layer "${layer}" cannot be found to check`;
    devs.add(d);
  }
  if (devs.size === 1) return null;
  return `it is on the overlay file system mounted on "${m.mountPoint}", whose layers lie on different file systems, where the kernel's inode numbers are neither unique nor kept (two layers' files share one, a directory's changes when its inode is read again)`;
}

/** stackedUnsound on this host, for each device given (read once). */
export function stackedVerdicts(devs: Iterable<number>): Map<number, string | null | undefined> {
  const out = new Map<number, string | null | undefined>();
  let mountinfo: string | undefined;
  for (const dev of devs) {
    if (out.has(dev)) continue;
    mountinfo ??= readFileSync("/proc/self/mountinfo", "utf8");
    out.set(dev, stackedUnsound(dev, mountinfo, stDevOrNull));
  }
  return out;
}

/** stat's st_dev of path, or null when it cannot be stat'ed. */
export function stDevOrNull(path: string): bigint | null {
  try {
    return statSync(path, { bigint: true }).dev;
  } catch {
    return null;
  }
}

