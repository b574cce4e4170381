// The probe program (bpf/probe.bpf.c): proof that BPF LSM programs run here, and the kernel's
// own name for a file's inode.
import type { BpfMap, BpfObject, ProbedPath } from "../../ffi/shim.ts";
import { loadShim, probeObject } from "./assets.ts";
import { kernelDev } from "../abi.ts";
import { stackedVerdicts, stDevOrNull } from "./overlay.ts";
import { fsTypeUnsound } from "./fstypes.ts";
import type { Unsound } from "../compile/compile.ts";

/** bpf/probe.bpf.c enum probe_slot (the shim uses the others). */
const SLOT = { TGID: 0, HITS: 1 } as const;

export class Probe {
  private constructor(
    private readonly obj: BpfObject,
    private readonly slots: BpfMap,
  ) {}

  /** Load and attach the probe, watching this process. Throws NativeError when the kernel refuses. */
  static async attach(): Promise<Probe> {
    const shim = await loadShim();
    const obj = shim.openObject(await probeObject(), "probe");
    try {
      obj.load();
      const slots = obj.map("probe_slots", 4, 8);
      const probe = new Probe(obj, slots);
      probe.write(SLOT.TGID, BigInt(process.pid));
      obj.attach("probe_file_open");
      return probe;
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  private key(slot: number): Uint8Array {
    return new Uint8Array(new Uint32Array([slot]).buffer);
  }

  private write(slot: number, value: bigint): void {
    this.slots.update(this.key(slot), new Uint8Array(new BigUint64Array([value]).buffer));
  }

  private read(slot: number): bigint {
    const v = this.slots.lookup(this.key(slot));
    return v ? new DataView(v.buffer).getBigUint64(0, true) : 0n;
  }

  /** Opens of this process the program has seen. */
  hits(): bigint {
    return this.read(SLOT.HITS);
  }

  /**
   * The (s_dev, i_ino) the kernel gives each path (regular files and directories), read from the
   * probe while this process opens it; null where it cannot be opened, or where another thread of
   * this process kept opening files meanwhile.
   */
  inodesOf(paths: string[], byStat = false): ProbedPath[] {
    return this.slots.probeInodes(paths, byStat);
  }

  close(): void {
    this.obj.close();
  }
}

/**
 * The kernel's (s_dev, i_ino) of each regular file and directory among paths that this process
 * can open, with why it cannot be trusted to last where it cannot (FAT; an overlay whose layers lie
 * on different file systems): such a path is listed, named or not. Nothing else is opened: opening a
 * device or a FIFO can have side effects.
 */
export async function kernelInodes(paths: string[]): Promise<Map<string, { dev: number; ino: bigint; unsound?: Unsound }>> {
  const out = new Map<string, { dev: number; ino: bigint; unsound?: Unsound }>();
  for (const [path, { key, unsound }] of await probePaths(paths)) {
    if (unsound) out.set(path, { ...(key ?? { dev: 0, ino: 0n }), unsound });
    else if (key) out.set(path, key);
  }
  return out;
}

const OVERLAY_HINT =
  "protect the file by its path in the overlay's layer (its upperdir or lowerdir), or mount the overlay with all its layers on one file system";
const FS_HINT = "keep what the policy names on a file system that keeps inode numbers (ext4, xfs, btrfs, tmpfs, and others on disk or over the network)";

/**
 * Marks the paths whose kernel names of inodes do not last: on a file system that makes its inode
 * numbers up (src/kernel/fstypes.ts), or on an overlay whose layers lie on different file systems
 * (src/kernel/overlay.ts). A path the probe could not open on an overlay (a file the policy in
 * force protects, at a reload) keeps stat's name only where the layers share one file system, where
 * stat names the overlay's inode; elsewhere stat's device is a layer's, which no hook sees.
 */
function judgeNames(probed: ProbedPath[], paths: string[]): void {
  const stacked: { p: ProbedPath; dev: number | undefined }[] = [];
  // Paths come in long runs on one file system: each run's type is judged once.
  let lastType = 0;
  let lastWhy: string | null = null;
  for (let i = 0; i < probed.length; i++) {
    const p = probed[i]!;
    if (p.kind !== "file" && p.kind !== "directory") continue;
    if (p.fsType !== lastType) {
      lastType = p.fsType;
      lastWhy = fsTypeUnsound(lastType);
    }
    if (lastWhy) p.unsound = { why: lastWhy, hint: FS_HINT };
    else if (p.stacked) {
      const st = p.key ? null : stDevOrNull(paths[i]!);
      stacked.push({ p, dev: p.key ? p.key.dev : st === null ? undefined : kernelDev(st) });
    }
  }
  if (!stacked.length) return;
  const verdicts = stackedVerdicts(stacked.flatMap(({ dev }) => (dev === undefined ? [] : [dev])));
  for (const { p, dev } of stacked) {
    const verdict = dev === undefined ? undefined : verdicts.get(dev);
    if (verdict) p.unsound = { why: verdict, hint: OVERLAY_HINT };
    else if (verdict === undefined && !p.key) p.unsound = { why: "it is on a stacked file system and cannot be opened to learn the kernel's name of its inode", hint: OVERLAY_HINT };
  }
}

/**
 * What each path is (missing, file, directory, other) and, for files and directories this process
 * can open, the kernel's (s_dev, i_ino): one call into the shim for all of them, so thousands of
 * paths cost milliseconds, not seconds. byStat: where a path's directory shows that stat names
 * inodes as the kernel does, the path is named by stat, not opened (a stat costs a fraction of an
 * open and close).
 */
export async function probePaths(paths: string[], byStat = false): Promise<Map<string, ProbedPath>> {
  const probe = await Probe.attach();
  try {
    const probed = probe.inodesOf(paths, byStat);
    const out = new Map<string, ProbedPath>();
    for (let i = 0; i < paths.length; i++) out.set(paths[i]!, probed[i]!);
    judgeNames(probed, paths);
    return out;
  } finally {
    probe.close();
  }
}
