// The probe program (bpf/probe.bpf.c): proof that BPF LSM programs run here, and the kernel's
// own name for a file's inode.
import type { BpfMap, BpfObject, ProbedPath } from "../../ffi/shim.ts";
import { loadShim, probeObject } from "./assets.ts";
import { kernelDev, ObjectKind } from "../abi.ts";
import { stackedVerdicts, stDevOrNull } from "./overlay.ts";
import { fsTypeUnsound } from "./fstypes.ts";
import type { Unsound } from "../compile/compile.ts";

/** bpf/probe.bpf.c enum probe_slot (the shim uses the others). */
const SLOT = { TGID: 0, HITS: 1 } as const;

/**
 * The probe is loaded once per process and kept; each use attaches it and detaches it after
 * (attached, it runs at every open on the host). Loading it again at each use cost every reload
 * libbpf's and the verifier's time (0.1 to 0.3 s in the test VM).
 */
let loaded: Promise<{ obj: BpfObject; slots: BpfMap }> | null = null;
/** Uses attached now: the program is attached while there is one. */
let users = 0;
/** Set by guardProbe: registers objects as the agent's own. */
let register: ((objects: [number, number][]) => void) | null = null;

async function loadProbe(): Promise<{ obj: BpfObject; slots: BpfMap }> {
  const shim = await loadShim();
  const obj = shim.openObject(await probeObject(), "probe");
  try {
    obj.load();
    const slots = obj.map("probe_slots", 4, 8);
    slots.update(slotKey(SLOT.TGID), new Uint8Array(new BigUint64Array([BigInt(process.pid)]).buffer));
    return { obj, slots };
  } catch (e) {
    obj.close();
    throw e;
  }
}

function slotKey(slot: number): Uint8Array {
  return new Uint8Array(new Uint32Array([slot]).buffer);
}

/**
 * From now on, the probe's maps, program and links are the agent's own (registered through
 * `objects`, src/kernel/kernel.ts registerObjects): with self-protection on, nobody else gets a
 * descriptor of them, so nobody writes what the probe reports while the agent names paths.
 */
export async function guardProbe(objects: (ids: [number, number][]) => void): Promise<void> {
  register = objects;
  loaded ??= loadProbe();
  objects((await loaded).obj.objectIds());
}

export class Probe {
  private closed = false;
  private constructor(
    private readonly obj: BpfObject,
    private readonly slots: BpfMap,
  ) {}

  /** Attach the probe (loaded at the first use), watching this process. Throws NativeError when the kernel refuses. */
  static async attach(): Promise<Probe> {
    loaded ??= loadProbe();
    let probe: { obj: BpfObject; slots: BpfMap };
    try {
      probe = await loaded;
    } catch (e) {
      loaded = null;
      throw e;
    }
    if (users === 0) {
      probe.obj.attach("probe_file_open");
      try {
        // Its maps and program were registered by guardProbe; its link is new at each attach.
        register?.(probe.obj.objectIds().filter(([kind]) => kind === ObjectKind.LINK));
      } catch (e) {
        probe.obj.detach();
        throw e;
      }
    }
    users++;
    return new Probe(probe.obj, probe.slots);
  }

  private read(slot: number): bigint {
    const v = this.slots.lookup(slotKey(slot));
    return v ? new DataView(v.buffer).getBigUint64(0, true) : 0n;
  }

  /** Opens of this process the program has seen (since it was loaded). */
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

  /** Detached once no use is left; the probe stays loaded. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (--users === 0) this.obj.detach();
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
