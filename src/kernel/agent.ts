// The only stage that talks to the kernel: load the agent's BPF object, write the compiled
// map entries, attach the programs, and hand out the event stream.
//
// All or nothing: maps are filled before any program is attached, and any failure closes
// the whole object, so the kernel is left exactly as it was.
import { EVENTS_MAP, MAPS, STATS_MAP, Stat } from "../abi.ts";
import { batches, type Compiled } from "../compile/compile.ts";
import { NativeError, records, type BpfMap, type BpfObject, type Ring } from "../../ffi/shim.ts";
import { agentObject, loadShim } from "./assets.ts";

/**
 * The programs of bpf/bomfather.bpf.c, by function name, in the order they are attached:
 * identity tracking (fork, exec) before the decisions that use it. Every program of the
 * object must be here (checked at start and by test/unit/abi.test.ts): a program loaded but
 * never attached would be a rule silently not enforced.
 */
export const PROGRAMS = [
  "task_alloc",
  "bprm_creds_for_exec",
  "file_open",
  "inode_setattr",
  "inode_unlink",
  "inode_rename",
  "file_receive",
  "task_prctl",
  "inode_free_security",
] as const;

export class LoadError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
  }
}

export class Enforcer {
  private readonly buf = new Uint8Array(256 * 1024);
  private constructor(
    private readonly obj: BpfObject,
    private readonly ring: Ring,
    private readonly stats: BpfMap,
    readonly wallOffsetNs: bigint,
  ) {}

  static async start(compiled: Compiled): Promise<Enforcer> {
    const shim = await loadShim();
    const obj = shim.openObject(await agentObject(), "bomfather");
    try {
      const missing = obj.programNames().filter((p) => !(PROGRAMS as readonly string[]).includes(p));
      if (missing.length) throw new Error(`Bug: programs ${missing.join(", ")} are in the BPF object but not in PROGRAMS`);
      obj.load();
      for (const b of batches(compiled.entries)) {
        const { name, key, value } = MAPS[b.map];
        obj.map(name, key.size, value.size).updateMany(b.keys, b.values, b.count);
      }
      for (const p of PROGRAMS) obj.attach(p);
      const ring = obj.openRing(EVENTS_MAP);
      const stats = obj.map(STATS_MAP, 4, 8);
      const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - shim.boottimeNs();
      return new Enforcer(obj, ring, stats, wallOffsetNs);
    } catch (e) {
      obj.close();
      if (e instanceof NativeError) throw new LoadError(e.message, e.log);
      throw e;
    }
  }

  /** Wait up to timeoutMs for events; returns the raw records that arrived. */
  poll(timeoutMs: number): Uint8Array[] {
    const used = this.ring.drain(this.buf, timeoutMs);
    return [...records(this.buf, used)].map((r) => r.slice());
  }

  /** The kernel's counters (enum bf_stat), summed over CPUs. */
  counters(): Record<"denied" | "audited" | "eventsLost" | "inheritanceFailures" | "protectionNotCarried", bigint> {
    const at = (i: number) => this.stats.lookupPerCpuSum(new Uint8Array(new Uint32Array([i]).buffer));
    return {
      denied: at(Stat.DENIED),
      audited: at(Stat.AUDITED),
      eventsLost: at(Stat.RINGBUF_FULL),
      inheritanceFailures: at(Stat.TASK_STORAGE_FAILED),
      protectionNotCarried: at(Stat.PROTECTION_NOT_CARRIED),
    };
  }

  stop(): void {
    this.ring.close();
    this.obj.close();
  }
}
