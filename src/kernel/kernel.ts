// The kernel side of the agent, installed once and then given policies as generations. The only
// module (with apply.ts) that changes what the kernel enforces.
//
// Lifecycle, and why it is not the agent process's:
// - open(): load the BPF object. Every map is pinned by name in PIN_ROOT; maps already pinned there
//   (left by an earlier run, whose programs may still be enforcing) are reused, not replaced.
// - apply() (apply.ts): a compiled policy becomes the one in force as a new generation.
// - attach(runId): every program is attached and its link pinned as PIN_ROOT/link-<runId>-<program>. The
//   links outlive this process: if it dies, the kernel goes on enforcing the last generation.
// - releaseOthers(runId): once this run's programs enforce, the links of earlier runs (and maps no
//   program of this version uses) are unpinned, so the old programs detach. Attaching the new
//   before releasing the old leaves no moment in which nothing is enforced.
// - uninstall(): every pin removed; when this process closes its descriptors nothing is enforced.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Agent, AGENT_CGROUPS_MAP, AGENT_MAP, AgentFlag, EVENTS_MAP, MAPS, OBJECTS_MAP, ObjectKey, STATE_MAP, STATS_MAP, State, Stat, TASKS_MAP, VERITY_MAP, ENV_MAP, EnvRules, envRulesValue, NET_MAP, NetPolicy, TREES_MAP, TreesEntry } from "../abi.ts";
import { NativeError, records, type BpfMap, type BpfObject, type Ring, type Shim } from "../../ffi/shim.ts";
import { agentObject, loadShim } from "./assets.ts";
import { SealedMaps } from "./sealed.ts";

/** The bpffs directory holding the agent's pinned maps and links. */
export const PIN_ROOT = "/sys/fs/bpf/bomfather";

/**
 * The programs of bpf/bomfather.bpf.c, by function name, in the order they are attached:
 * identity tracking (fork, exec) before the decisions that use it. Every program of the
 * object must be here (checked at start and by test/unit/abi.test.ts): a program loaded but
 * never attached would be a rule silently not enforced.
 */
export const PROGRAMS = [
  "task_alloc",
  "bprm_creds_for_exec",
  "bprm_creds_from_file",
  "bprm_creds_from_file_verity",
  "bprm_check_security",
  "bprm_committing_creds",
  "cgroup_attach_task",
  "task_kill",
  "file_send_sigiotask",
  "task_setrlimit",
  "ptrace_access_check",
  "ptrace_traceme",
  "bpf",
  "bpf_map",
  "bpf_prog",
  "sb_umount",
  "sb_mount",
  "move_mount",
  "file_permission",
  "file_open",
  "file_ioctl",
  "file_ioctl_compat",
  "inode_setattr",
  "inode_setxattr",
  "inode_removexattr",
  "inode_set_acl",
  "inode_remove_acl",
  "inode_unlink",
  "inode_rmdir",
  "inode_create",
  "inode_mkdir",
  "inode_mknod",
  "inode_symlink",
  "inode_link",
  "inode_rename",
  "file_receive",
  "task_prctl",
  "d_instantiate",
  "inode_free_security",
  "socket_create",
  "socket_connect",
  "socket_sendmsg",
] as const;
export type Program = (typeof PROGRAMS)[number];

/**
 * Programs loaded only where the running kernel has (or lacks) a function, by its BTF; the others
 * are always loaded. A hook a kernel lacks is one whose operations reach another hook there (ACLs
 * went through setxattr before 6.2; 32-bit ioctls through file_ioctl before 6.8).
 */
export const KERNEL_NEEDS: Partial<Record<Program, { has: string } | { lacks: string }>> = {
  bprm_creds_from_file: { lacks: "bpf_get_fsverity_digest" },
  bprm_creds_from_file_verity: { has: "bpf_get_fsverity_digest" },
  inode_set_acl: { has: "bpf_lsm_inode_set_acl" },
  inode_remove_acl: { has: "bpf_lsm_inode_remove_acl" },
  file_ioctl_compat: { has: "bpf_lsm_file_ioctl_compat" },
};

/** The programs this kernel gets, given the functions its BTF has. */
export function programsFor(has: ReadonlySet<string>): Program[] {
  return PROGRAMS.filter((p) => {
    const need = KERNEL_NEEDS[p];
    return !need || ("has" in need ? has.has(need.has) : !has.has(need.lacks));
  });
}

/**
 * Which of these functions the running kernel has: their names in its BTF's strings (a function's
 * name is there when, and only when, BTF describes it; a search instead of parsing the whole BTF,
 * which costs half a second at start under emulation).
 */
export function kernelHas(names: readonly string[], btf = readFileSync(VMLINUX_BTF)): Set<string> {
  return new Set(names.filter((n) => btf.includes(`\0${n}\0`)));
}

const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/** Switch off, in an opened object, the programs this kernel cannot take; returns those it gets. */
export function selectPrograms(obj: BpfObject): Program[] {
  const needed = [...new Set(Object.values(KERNEL_NEEDS).map((n) => ("has" in n ? n.has : n.lacks)))];
  const programs = programsFor(kernelHas(needed));
  for (const p of PROGRAMS) if (!programs.includes(p)) obj.setAutoload(p, false);
  return programs;
}

/** The maps this version pins, by name; a pinned bf_* map not listed here belongs to another version. */
export const PINNED_MAPS = [STATE_MAP, AGENT_MAP, OBJECTS_MAP, AGENT_CGROUPS_MAP, TASKS_MAP, VERITY_MAP, ENV_MAP, NET_MAP, EVENTS_MAP, STATS_MAP, TREES_MAP, ...Object.values(MAPS).map((m) => m.outer)];

/** Who the agent is and where its things live, for self-protection (bf_agent_v1). */
export interface AgentIdentity {
  /** The agent's binary as the kernel names it. */
  exe: { dev: number; ino: bigint };
  /** The host's systemd-shutdown, whose PID 1 may signal the agent at the end of a shutdown. */
  shutdown: { dev: number; ino: bigint } | null;
  /** The directory of the loader's preload list (/etc), where nobody may create ld.so.preload. */
  preloadDir: { dev: number; ino: bigint } | null;
  /** s_dev of the bpffs holding PIN_ROOT and of the file system holding the agent's state. */
  pinsDev: number;
  stateDev: number;
  /** Self-protection logs attempts and refuses none. */
  monitor: boolean;
  /** Granted uses of protected files are reported too (agent.events.include: allow). */
  reportAllow: boolean;
}

/** bpf(2)'s errno for an update of a full hash map. */
const E2BIG = 7;
/** More entries than bf_objects_v1 holds (maps.bpf.h): the registry is read whole. */
const REGISTRY_READ_MAX = 4096;

export class LoadError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
  }
}

export type Counters = Record<"denied" | "monitored" | "eventsLost" | "inheritanceFailures" | "protectionNotCarried" | "noPolicy", bigint>;

/** Which slot is in force and the generation each slot holds (bf_state_v2). */
export interface SlotState {
  active: 0 | 1;
  generations: [number, number];
  /** Bit (1 << slot): that slot's generation has rules on directories. */
  trees: number;
}

export class Kernel {
  private readonly buf = new Uint8Array(256 * 1024);
  private ring: Ring | null = null;
  readonly state: BpfMap;
  private readonly stats: BpfMap;
  /** The maps of each slot that apply sealed and BPF programs do not add to (src/kernel/sealed.ts). */
  readonly sealed = new SealedMaps();

  private constructor(
    private readonly shim: Shim,
    readonly obj: BpfObject,
    readonly wallOffsetNs: bigint,
    /** The programs loaded (and attached by attach()): PROGRAMS less those this kernel cannot take. */
    readonly programs: readonly Program[],
  ) {
    this.state = obj.map(STATE_MAP, 4, State.size);
    this.stats = obj.map(STATS_MAP, 4, 8);
  }

  /** Does this kernel check executables' fs-verity digests at every exec (Linux 6.8+)? */
  get digestsAtExec(): boolean {
    return this.programs.includes("bprm_creds_from_file_verity");
  }

  /** Is a kernel side installed (pinned) on this host, by this or another run? */
  static pinned(): boolean {
    return existsSync(join(PIN_ROOT, STATE_MAP));
  }

  /**
   * Load the agent's BPF object, reusing the maps pinned in PIN_ROOT (so an earlier run's policy
   * and the identities tasks inherited stay as they are) and pinning the others. Nothing is
   * attached yet. Throws LoadError when the kernel refuses.
   */
  static async open(): Promise<Kernel> {
    const shim = await loadShim();
    mkdirSync(PIN_ROOT, { recursive: true, mode: 0o700 });
    const obj = shim.openObject(await agentObject(), "bomfather", PIN_ROOT);
    try {
      const missing = obj.programNames().filter((p) => !(PROGRAMS as readonly string[]).includes(p));
      if (missing.length) throw new Error(`Bug: programs ${missing.join(", ")} are in the BPF object but not in PROGRAMS`);
      const programs = selectPrograms(obj);
      obj.load();
      return new Kernel(shim, obj, BigInt(Date.now()) * 1_000_000n - shim.boottimeNs(), programs);
    } catch (e) {
      obj.close();
      if (e instanceof NativeError) throw new LoadError(e.message, e.log);
      throw e;
    }
  }

  slots(): SlotState {
    const v = this.state.lookup(new Uint8Array(4));
    const s = v ? State.decode(v) : { active: 0, generation0: 0, generation1: 0, trees: 0 };
    return { active: s.active === 1 ? 1 : 0, generations: [s.generation0, s.generation1], trees: s.trees };
  }

  /** The generation in force; 0 when none was ever applied. */
  generation(): number {
    const s = this.slots();
    return s.generations[s.active];
  }

  /** Who the agent is: from this update on, self-protection knows it (and guards it once attached). */
  configure(agent: AgentIdentity): void {
    this.obj.map(AGENT_MAP, 4, Agent.size).update(
      u32(0),
      Agent.encode({
        ino: agent.exe.ino,
        dev: agent.exe.dev,
        shutdown_ino: agent.shutdown?.ino ?? 0n,
        shutdown_dev: agent.shutdown?.dev ?? 0,
        preload_ino: agent.preloadDir?.ino ?? 0n,
        preload_dev: agent.preloadDir?.dev ?? 0,
        pins_dev: agent.pinsDev,
        state_dev: agent.stateDev,
        flags: (agent.monitor ? AgentFlag.MONITOR : 0) | (agent.reportAllow ? AgentFlag.REPORT_ALLOW : 0),
      }),
    );
  }

  /** The variables runtime.environment refuses, for the generation in slot (written before it is in force). */
  setEnvRules(slot: 0 | 1, patterns: readonly string[]): void {
    this.obj.map(ENV_MAP, 4, EnvRules.size).update(u32(slot), envRulesValue(patterns));
  }

  /** The network settings (bf_net_policy) of the generation in slot (written before it is in force). */
  setNetPolicy(slot: 0 | 1, value: Uint8Array = NetPolicy.encode({})): void {
    this.obj.map(NET_MAP, 4, NetPolicy.size).update(u32(slot), value);
  }

  /**
   * Changes below protected directories the kernel counted (directories moved, file systems
   * mounted in), and the count the generation in force has walked (bf_trees_v1).
   */
  trees(): { moved: bigint; settled: bigint } {
    const map = this.obj.map(TREES_MAP, 4, 8);
    const read = (k: number) => {
      const v = map.lookup(u32(k));
      return v ? new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true) : 0n;
    };
    return { moved: read(TreesEntry.MOVED), settled: read(TreesEntry.SETTLED) };
  }

  /**
   * Something below the protected directories may have been missed (programs attached after the
   * generation was applied): until the next generation settles, the programs look under parents.
   */
  unsettleTrees(): void {
    this.settleTrees(this.trees().moved ^ (1n << 63n));
  }

  /** Every change up to `moved` is in the generation in force: the programs stop looking under parents. */
  settleTrees(moved: bigint): void {
    this.obj.map(TREES_MAP, 4, 8).update(u32(TreesEntry.SETTLED), new Uint8Array(new BigUint64Array([moved]).buffer));
  }

  /** Maps, programs and links whose file descriptors bpf() then hands to the agent only. */
  registerObjects(objects: [number, number][]): void {
    const map = this.obj.map(OBJECTS_MAP, ObjectKey.size, 4);
    for (const [kind, id] of objects) {
      const key = ObjectKey.encode({ kind, id });
      try {
        map.update(key, u32(1));
      } catch (e) {
        if (!(e instanceof NativeError) || e.errno !== E2BIG || !this.forgetFreedObjects(map)) throw e;
        map.update(key, u32(1));
      }
    }
  }

  /**
   * The registry is full (every generation adds its maps, every naming the probe's link): the
   * objects the kernel has freed since leave it (an earlier generation's maps, a link detached).
   * A freed object's id is not given again until ids go round (2^31). Whether any left.
   */
  private forgetFreedObjects(map: BpfMap): boolean {
    const held = map.dump(REGISTRY_READ_MAX);
    let forgotten = 0;
    for (let i = 0; i < held.count; i++) {
      const key = held.keys.slice(i * ObjectKey.size, (i + 1) * ObjectKey.size);
      const { kind, id } = ObjectKey.decode(key);
      if (this.shim.objectAlive(kind, id)) continue;
      map.delete(key);
      forgotten++;
    }
    return forgotten > 0;
  }

  /** Every map, program and link of this run's object (call once attached). */
  registerSelf(): void {
    this.registerObjects(this.obj.objectIds());
  }

  /** The cgroups holding the agent (its own and their ancestors): freezing or killing them is refused. */
  agentCgroups(ids: bigint[]): void {
    const map = this.obj.map(AGENT_CGROUPS_MAP, 8, 4);
    for (const id of ids) map.update(new Uint8Array(new BigUint64Array([id]).buffer), u32(1));
  }

  /**
   * Attach every program, pinning its link as PIN_ROOT/link-<runId>-<program> (one flat directory:
   * self-protection guards the entries of PIN_ROOT itself).
   */
  attach(runId: string): void {
    try {
      for (const p of this.programs) this.obj.attach(p, join(PIN_ROOT, `${linkPrefix(runId)}${p}`));
    } catch (e) {
      for (const entry of readdirSync(PIN_ROOT)) if (entry.startsWith(linkPrefix(runId))) rmSync(join(PIN_ROOT, entry), { force: true });
      if (e instanceof NativeError) throw new LoadError(e.message, e.log);
      throw e;
    }
  }

  /**
   * Unpin the links of every other run (their programs detach once nothing holds them) and the
   * maps of other versions. Returns what was removed.
   */
  releaseOthers(runId: string): string[] {
    const removed: string[] = [];
    for (const entry of readdirSync(PIN_ROOT)) {
      const stale = entry.startsWith("link-") ? !entry.startsWith(linkPrefix(runId)) : !PINNED_MAPS.includes(entry);
      if (!stale) continue;
      rmSync(join(PIN_ROOT, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }

  /** Wait up to timeoutMs (0: not at all) for events; returns the raw records that arrived. */
  poll(timeoutMs: number): Uint8Array[] {
    this.ring ??= this.obj.openRing(EVENTS_MAP);
    const used = this.ring.drain(this.buf, timeoutMs);
    return [...records(this.buf, used)].map((r) => r.slice());
  }

  /** The kernel's counters (enum bf_stat), summed over CPUs. */
  counters(): Counters {
    const at = (i: number) => this.stats.lookupPerCpuSum(new Uint8Array(new Uint32Array([i]).buffer));
    return {
      denied: at(Stat.DENIED),
      monitored: at(Stat.MONITORED),
      eventsLost: at(Stat.RINGBUF_FULL),
      inheritanceFailures: at(Stat.TASK_STORAGE_FAILED),
      protectionNotCarried: at(Stat.PROTECTION_NOT_CARRIED),
      noPolicy: at(Stat.NO_POLICY),
    };
  }

  /** Close this process's descriptors; what is pinned goes on enforcing. */
  close(): void {
    this.ring?.close();
    this.ring = null;
    this.sealed.close();
    this.obj.close();
  }

  /**
   * Enforcement ends at once: every generation's maps leave their slots, files first (from then
   * on no file is protected; a decision that finds an empty slot allows). The programs stay
   * attached until uninstall() detaches them, which takes the kernel a grace period per program.
   */
  endEnforcement(): void {
    const { generations } = this.slots();
    for (const kind of ["files", "grants", "exes"] as const) {
      const outer = this.obj.map(MAPS[kind].outer, 4, 4);
      for (const slot of [0, 1]) if (generations[slot] !== 0) outer.delete(u32(slot));
    }
    this.sealed.close(); // the grants maps left their slots: no slot is known to hold a map any more
    this.state.update(u32(0), State.encode({ active: 0, generation0: 0, generation1: 0, trees: 0 }));
  }

  /** Remove every pin, then close: nothing is enforced any more. */
  uninstall(): void {
    rmSync(PIN_ROOT, { recursive: true, force: true });
    this.close();
  }
}

function linkPrefix(runId: string): string {
  return `link-${runId}-`;
}

function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}
