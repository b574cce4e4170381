// The probe program (bpf/probe.bpf.c): proof that BPF LSM programs run here, and the kernel's
// own name for a file's inode.
import { closeSync, constants, openSync, statSync } from "node:fs";
import type { BpfMap, BpfObject } from "../../ffi/shim.ts";
import { loadShim, probeObject } from "./assets.ts";

const SLOT = { TGID: 0, HITS: 1, INO: 2, DEV: 3 } as const;

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
   * The (s_dev, i_ino) the kernel gives path, read from the probe when this process opens it.
   * Null when it cannot be opened (or the hook did not run).
   */
  inodeOf(path: string): { dev: number; ino: bigint } | null {
    // Another thread of this process may open a file at the same moment; the reading counts
    // only when exactly one open was seen.
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = this.hits();
      let fd: number;
      const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
      try {
        fd = openSync(path, flags | constants.O_NOATIME);
      } catch (e) {
        // O_NOATIME needs the file's owner or CAP_FOWNER, which an agent running with only the
        // capabilities it needs lacks for other users' files: open it without.
        if ((e as NodeJS.ErrnoException).code !== "EPERM") return null;
        try {
          fd = openSync(path, flags);
        } catch {
          return null;
        }
      }
      const key = { dev: Number(this.read(SLOT.DEV)), ino: this.read(SLOT.INO) };
      closeSync(fd);
      if (this.hits() === before + 1n) return key;
    }
    return null;
  }

  close(): void {
    this.obj.close();
  }
}

/**
 * The kernel's (s_dev, i_ino) of each regular file and directory among paths that this process
 * can open. Nothing else is opened: opening a device or a FIFO can have side effects.
 */
export async function kernelInodes(paths: string[]): Promise<Map<string, { dev: number; ino: bigint }>> {
  const probe = await Probe.attach();
  try {
    const out = new Map<string, { dev: number; ino: bigint }>();
    for (const p of paths) {
      if (!isFileOrDirectory(p)) continue;
      const key = probe.inodeOf(p);
      if (key) out.set(p, key);
    }
    return out;
  } finally {
    probe.close();
  }
}

function isFileOrDirectory(path: string): boolean {
  try {
    const s = statSync(path);
    return s.isFile() || s.isDirectory();
  } catch {
    return false;
  }
}
