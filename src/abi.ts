// The TypeScript view of bpf/bomfather.h: enum values, struct layouts and their codecs.
//
// Layouts are described here once, offsets are computed with C's alignment rules, and
// test/unit/abi.test.ts checks every struct and enum against the compiled object's BTF, so
// this file cannot drift from the header without a failing test.

import { startupCode } from "./jit.ts";

export const ABI_VERSION = 8;
export const PATH_MAX = 256;
export const COMM_LEN = 16;
export const SLOTS = 2;
export const ENV_PATTERNS = 16;
export const ENV_PATTERN_LEN = 32;
export const ENV_PATTERN_WORDS = 4;

export const EventKind = { FILE: 1, IDENTITY: 2, AGENT: 3, RUNTIME: 4, NETWORK: 5 } as const;
export const RULE_BUILTIN = 0x7fffffff;
export const Op = {
  OPEN: 1,
  SETATTR: 2,
  UNLINK: 3,
  RENAME: 4,
  RECEIVE: 5,
  SET_EXE: 6,
  SIGNAL: 7,
  SIGIO: 8,
  RLIMIT: 9,
  PTRACE: 10,
  BPF: 11,
  CGROUP: 12,
  UMOUNT: 13,
  PROC: 14,
  UNSAFE_EXEC: 15,
  CREATE: 16,
  XATTR: 17,
  IOCTL: 18,
  DIGEST: 19,
  TRACED_EXEC: 20,
  FILELESS: 21,
  ENVIRONMENT: 22,
  CONNECT: 23,
  SEND: 24,
  SOCKET: 25,
} as const;
export const NetReason = { RESERVED: 1, CONFINED: 2, DEFAULT: 3, OPAQUE: 4 } as const;
export const NetFlag = { ON: 1, DENY: 2, DENY_MONITOR: 4, CONFINES: 8 } as const;
export const DestFlag = { MONITOR: 1, RESERVED: 2 } as const;
export const Unsafe = { TRACED: 1, ENVIRONMENT: 2, UNREAD: 3 } as const;
export const AgentFlag = { MONITOR: 1, REPORT_ALLOW: 2 } as const;
export const ObjectKind = { MAP: 1, PROG: 2, LINK: 3 } as const;
export const TaskFlag = { INHERITED: 1, UNTRUSTED: 2, LAUNCHER: 4, UNVERIFIED: 8, CONFINED: 16, CONFINED_MORE: 32, PLAIN: 4 } as const;
export const Verdict = { DENY: 1, MONITOR: 2, ALLOW: 3 } as const;
export const Access = { READ: 1, WRITE: 2, CONNECT: 4, REACH: 8 } as const;
export const Mode = { ENFORCE: 0, MONITOR: 1 } as const;
/** How an inode came by its rule (bf_file_rule.flags). */
export const FileFlag = { TREE: 1, ROOT: 2 } as const;
/** The counters of bf_trees_v1 (enum bf_trees_entry). */
export const TreesEntry = { MOVED: 0, SETTLED: 1, MAX: 2 } as const;
export const ExeFlag = {
  INHERIT: 1,
  DIGEST: 2,
  MEASURED: 4,
  SECURE_EXEC: 8,
  MONITOR: 16,
  PTRACE: 32,
  PTRACE_MONITOR: 64,
  TRACER: 128,
  FILELESS_OK: 256,
  FILELESS_ON: 512,
  FILELESS_MONITOR: 1024,
  ENV_DENY: 2048,
  ENV_MONITOR: 4096,
  CONFINED: 8192,
} as const;
/** Inode number of the exes map's entry that holds the policy's own runtime settings. */
export const POLICY_ENTRY_INO = 0;
export const Fileless = { MEMFD: 1, TMPFILE: 2, DELETED: 3 } as const;
/** Capacity of the maps that hold a policy (BF_MAX_* in bpf/maps.bpf.h; test/unit/abi.test.ts compares). */
export const MAP_LIMITS = { exes: 16384, files: 262144, grants: 65536, dests: 65536, ports: 65536, confined: 16384 } as const;
export const Stat = { DENIED: 0, MONITORED: 1, RINGBUF_FULL: 2, TASK_STORAGE_FAILED: 3, PROTECTION_NOT_CARRIED: 4, NO_POLICY: 5, MAX: 6 } as const;

/** The C enums, by their C names, for the BTF check. */
export const ENUMS: Record<string, Record<string, number>> = {
  bf_abi: { BF_ABI_VERSION: ABI_VERSION, BF_PATH_MAX: PATH_MAX, BF_COMM_LEN: COMM_LEN, BF_SLOTS: SLOTS, BF_ENV_PATTERNS: ENV_PATTERNS, BF_ENV_PATTERN_LEN: ENV_PATTERN_LEN, BF_ENV_PATTERN_WORDS: ENV_PATTERN_WORDS },
  bf_event_kind: { BF_EVENT_FILE: EventKind.FILE, BF_EVENT_IDENTITY: EventKind.IDENTITY, BF_EVENT_AGENT: EventKind.AGENT, BF_EVENT_RUNTIME: EventKind.RUNTIME, BF_EVENT_NETWORK: EventKind.NETWORK },
  bf_net_reason: Object.fromEntries(Object.entries(NetReason).map(([k, v]) => [`BF_NET_${k}`, v])),
  bf_net_flag: Object.fromEntries(Object.entries(NetFlag).map(([k, v]) => [`BF_NET_${k}`, v])),
  bf_dest_flag: Object.fromEntries(Object.entries(DestFlag).map(([k, v]) => [`BF_DEST_${k}`, v])),
  bf_rule_builtin: { BF_RULE_BUILTIN: RULE_BUILTIN },
  bf_op: {
    BF_OP_OPEN: Op.OPEN,
    BF_OP_SETATTR: Op.SETATTR,
    BF_OP_UNLINK: Op.UNLINK,
    BF_OP_RENAME: Op.RENAME,
    BF_OP_RECEIVE: Op.RECEIVE,
    BF_OP_SET_EXE: Op.SET_EXE,
    BF_OP_SIGNAL: Op.SIGNAL,
    BF_OP_SIGIO: Op.SIGIO,
    BF_OP_RLIMIT: Op.RLIMIT,
    BF_OP_PTRACE: Op.PTRACE,
    BF_OP_BPF: Op.BPF,
    BF_OP_CGROUP: Op.CGROUP,
    BF_OP_UMOUNT: Op.UMOUNT,
    BF_OP_PROC: Op.PROC,
    BF_OP_UNSAFE_EXEC: Op.UNSAFE_EXEC,
    BF_OP_CREATE: Op.CREATE,
    BF_OP_XATTR: Op.XATTR,
    BF_OP_IOCTL: Op.IOCTL,
    BF_OP_DIGEST: Op.DIGEST,
    BF_OP_TRACED_EXEC: Op.TRACED_EXEC,
    BF_OP_FILELESS: Op.FILELESS,
    BF_OP_ENVIRONMENT: Op.ENVIRONMENT,
    BF_OP_CONNECT: Op.CONNECT,
    BF_OP_SEND: Op.SEND,
    BF_OP_SOCKET: Op.SOCKET,
  },
  bf_unsafe: { BF_UNSAFE_TRACED: Unsafe.TRACED, BF_UNSAFE_ENVIRONMENT: Unsafe.ENVIRONMENT, BF_UNSAFE_UNREAD: Unsafe.UNREAD },
  bf_agent_flag: { BF_AGENT_MONITOR: AgentFlag.MONITOR, BF_AGENT_REPORT_ALLOW: AgentFlag.REPORT_ALLOW },
  bf_object_kind: { BF_OBJECT_MAP: ObjectKind.MAP, BF_OBJECT_PROG: ObjectKind.PROG, BF_OBJECT_LINK: ObjectKind.LINK },
  bf_task_flag: Object.fromEntries(Object.entries(TaskFlag).map(([k, v]) => [`BF_TASK_${k}`, v])),
  bf_verdict: { BF_VERDICT_DENY: Verdict.DENY, BF_VERDICT_MONITOR: Verdict.MONITOR, BF_VERDICT_ALLOW: Verdict.ALLOW },
  bf_access: Object.fromEntries(Object.entries(Access).map(([k, v]) => [`BF_ACCESS_${k}`, v])),
  bf_mode: { BF_MODE_ENFORCE: Mode.ENFORCE, BF_MODE_MONITOR: Mode.MONITOR },
  bf_trees_entry: { BF_TREES_MOVED: TreesEntry.MOVED, BF_TREES_SETTLED: TreesEntry.SETTLED, BF_TREES_MAX: TreesEntry.MAX },
  bf_file_flag: Object.fromEntries(Object.entries(FileFlag).map(([k, v]) => [`BF_FILE_${k}`, v])),
  bf_exe_flag: Object.fromEntries(Object.entries(ExeFlag).map(([k, v]) => [`BF_EXE_${k}`, v])),
  bf_policy_entry: { BF_POLICY_ENTRY_INO: POLICY_ENTRY_INO },
  bf_fileless: { BF_FILELESS_MEMFD: Fileless.MEMFD, BF_FILELESS_TMPFILE: Fileless.TMPFILE, BF_FILELESS_DELETED: Fileless.DELETED },
  bf_stat: {
    BF_STAT_DENIED: Stat.DENIED,
    BF_STAT_MONITORED: Stat.MONITORED,
    BF_STAT_RINGBUF_FULL: Stat.RINGBUF_FULL,
    BF_STAT_TASK_STORAGE_FAILED: Stat.TASK_STORAGE_FAILED,
    BF_STAT_PROTECTION_NOT_CARRIED: Stat.PROTECTION_NOT_CARRIED,
    BF_STAT_NO_POLICY: Stat.NO_POLICY,
    BF_STAT_MAX: Stat.MAX,
  },
};

type Scalar = "u16" | "u32" | "u64";
/** char: text, NUL-terminated; bytes: raw bytes (an address, a key's data). */
type FieldType = Scalar | { char: number } | { bytes: number };
type FieldValue<T extends FieldType> = T extends "u64" ? bigint : T extends "u32" | "u16" ? number : T extends { bytes: number } ? Uint8Array : string;

export interface Field {
  name: string;
  type: FieldType;
  offset: number;
  size: number;
}

export interface Layout<F extends Record<string, FieldType>> {
  name: string;
  size: number;
  fields: Field[];
  encode(v: { [K in keyof F]?: FieldValue<F[K]> }): Uint8Array;
  decode(bytes: Uint8Array): { [K in keyof F]: FieldValue<F[K]> };
}

function sizeOf(t: FieldType): number {
  return t === "u64" ? 8 : t === "u32" ? 4 : t === "u16" ? 2 : "bytes" in t ? t.bytes : t.char;
}
function alignOf(t: FieldType): number {
  return t === "u64" ? 8 : t === "u32" ? 4 : t === "u16" ? 2 : 1;
}

/** Where a u64 is turned into bytes (little-endian, as the kernel reads them). */
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

/** A u32, little-endian (modulo 2^32, as DataView.setUint32 stores it). */
function putU32(bytes: Uint8Array, offset: number, n: number): void {
  bytes[offset] = n;
  bytes[offset + 1] = n >>> 8;
  bytes[offset + 2] = n >>> 16;
  bytes[offset + 3] = n >>> 24;
}

/** A C struct of fixed-width fields, in declaration order. Absent fields encode as zero. */
export function struct<F extends Record<string, FieldType>>(name: string, spec: F): Layout<F> {
  const fields: Field[] = [];
  let off = 0;
  let maxAlign = 1;
  for (const [fname, type] of Object.entries(spec)) {
    const a = alignOf(type);
    maxAlign = Math.max(maxAlign, a);
    off = Math.ceil(off / a) * a;
    fields.push({ name: fname, type, offset: off, size: sizeOf(type) });
    off += sizeOf(type);
  }
  const size = Math.ceil(off / maxAlign) * maxAlign;
  const utf8 = new TextEncoder();
  const text = new TextDecoder();
  return {
    name,
    size,
    fields,
    encode(v) {
      // Byte by byte into a small array: a DataView (and the ArrayBuffer it needs) per value
      // would triple the cost of compiling a large policy.
      const bytes = new Uint8Array(size);
      for (const f of fields) {
        const x = (v as Record<string, unknown>)[f.name];
        if (x === undefined) continue;
        if (f.type === "u64") {
          scratch.setBigUint64(0, BigInt(x as bigint | number), true);
          for (let i = 0; i < 8; i++) bytes[f.offset + i] = scratchBytes[i]!;
        } else if (f.type === "u32") putU32(bytes, f.offset, Number(x));
        else if (f.type === "u16") {
          bytes[f.offset] = Number(x);
          bytes[f.offset + 1] = Number(x) >>> 8;
        } else if ("bytes" in f.type) {
          const b = x as Uint8Array;
          if (b.length > f.size) throw new Error(`Bug: ${b.length} bytes do not fit ${name}.${f.name}`);
          bytes.set(b, f.offset);
        } else {
          const s = utf8.encode(String(x));
          if (s.length >= f.size) throw new Error(`Bug: "${String(x)}" does not fit ${name}.${f.name}`);
          bytes.set(s, f.offset);
        }
      }
      return bytes;
    },
    decode(bytes) {
      if (bytes.length < size) throw new Error(`Short ${name}: ${bytes.length} of ${size} bytes`);
      const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        if (f.type === "u64") out[f.name] = dv.getBigUint64(f.offset, true);
        else if (f.type === "u32") out[f.name] = dv.getUint32(f.offset, true);
        else if (f.type === "u16") out[f.name] = dv.getUint16(f.offset, true);
        else if ("bytes" in f.type) out[f.name] = bytes.slice(f.offset, f.offset + f.size);
        else {
          const raw = bytes.subarray(f.offset, f.offset + f.size);
          const nul = raw.indexOf(0);
          out[f.name] = text.decode(nul < 0 ? raw : raw.subarray(0, nul));
        }
      }
      return out as { [K in keyof F]: FieldValue<F[K]> };
    },
  };
}

export const InodeKey = struct("bf_inode_key", { ino: "u64", dev: "u32", pad: "u32" });
// Every struct's codec is the same code: keeping one out of the top tier keeps them all.
startupCode(InodeKey.encode, InodeKey.decode, putU32);
export const FileRule = struct("bf_file_rule", { rule_id: "u32", mode: "u32", guards: "u32", flags: "u32" });
export const Exe = struct("bf_exe", { flags: "u32", rule_id: "u32", digest0: "u64", digest1: "u64", digest2: "u64", digest3: "u64" });
export const GrantKey = struct("bf_grant_key", { rule_id: "u32", dev: "u32", ino: "u64" });
export const Grant = struct("bf_grant", { access: "u32", pad: "u32" });
export const State = struct("bf_state", { active: "u32", generation0: "u32", generation1: "u32", trees: "u32" });
export const Task = struct("bf_task", {
  ino: "u64",
  dev: "u32",
  pad0: "u32",
  launcher_ino: "u64",
  launcher_dev: "u32",
  pad1: "u32",
  confined_ino: "u64",
  confined_dev: "u32",
  pad2: "u32",
  flags: "u32",
  pad: "u32",
  reached_addr: { bytes: 16 },
  reached_port: "u16",
  reached_protocol: "u16",
  reached_generation: "u32",
  reached_exec_id: "u64",
});
export const DestKey = struct("bf_dest_key", { prefixlen: "u32", addr: { bytes: 16 } });
export const Dest = struct("bf_dest", { rule_id: "u32", ports: "u32", flags: "u32", pad: "u32" });
export const PortKey = struct("bf_port_key", { prefixlen: "u32", data: { bytes: 8 } });
export const PortDest = struct("bf_port_dest", { rule_id: "u32", flags: "u32" });
export const Confinement = struct("bf_confinement", { rule_id: "u32", mode: "u32" });
export const NetPolicy = struct("bf_net_policy", { flags: "u32", default_rule: "u32" });
export const Agent = struct("bf_agent", {
  ino: "u64",
  dev: "u32",
  pad0: "u32",
  shutdown_ino: "u64",
  shutdown_dev: "u32",
  pad1: "u32",
  preload_ino: "u64",
  preload_dev: "u32",
  pad2: "u32",
  pins_dev: "u32",
  state_dev: "u32",
  flags: "u32",
  pad: "u32",
});
export const ObjectKey = struct("bf_object_key", { kind: "u32", id: "u32" });
export const Event = struct("bf_event", {
  boot_ns: "u64",
  generation: "u32",
  kind: "u32",
  verdict: "u32",
  rule_id: "u32",
  access: "u32",
  pid: "u32",
  tid: "u32",
  uid: "u32",
  op: "u32",
  arg: "u32",
  target_pid: "u32",
  identity: "u32",
  addr: { bytes: 16 },
  port: "u16",
  protocol: "u16",
  family: "u16",
  reason: "u16",
  comm: { char: COMM_LEN },
  exe: { char: PATH_MAX },
  target: { char: PATH_MAX },
});

export const EnvRules = struct("bf_env_rules", { count: "u32", pad: "u32", words: { char: ENV_PATTERNS * ENV_PATTERN_LEN }, masks: { char: ENV_PATTERNS * ENV_PATTERN_LEN } });

/**
 * bf_env_v1's value for these patterns ("NAME=" or a prefix): each pattern's bytes NUL-padded to
 * ENV_PATTERN_LEN (the kernel reads them as little-endian words), and a mask of 0xff under each.
 */
export function envRulesValue(patterns: readonly string[]): Uint8Array {
  if (patterns.length > ENV_PATTERNS) throw new Error(`Bug: ${patterns.length} variable patterns, the kernel holds ${ENV_PATTERNS}`);
  const bytes = EnvRules.encode({ count: patterns.length });
  const words = EnvRules.fields.find((f) => f.name === "words")!.offset;
  const masks = EnvRules.fields.find((f) => f.name === "masks")!.offset;
  patterns.forEach((p, i) => {
    const b = new TextEncoder().encode(p);
    if (b.length >= ENV_PATTERN_LEN) throw new Error(`Bug: variable pattern "${p}" is longer than ${ENV_PATTERN_LEN - 1} bytes`);
    bytes.set(b, words + i * ENV_PATTERN_LEN);
    bytes.fill(0xff, masks + i * ENV_PATTERN_LEN, masks + i * ENV_PATTERN_LEN + b.length);
  });
  return bytes;
}

/** Every shared struct, for the BTF check. */
export const STRUCTS = [InodeKey, FileRule, Exe, GrantKey, Grant, State, Event, ObjectKey, DestKey, Dest, PortKey, PortDest, Confinement, NetPolicy];
/** Structs with a nested struct, checked by size only (the BTF check compares flat members). */
export const NESTED_STRUCTS = [Task, Agent, EnvRules];

/**
 * The maps of a policy generation, with their layouts: each is an inner map of the map-in-map
 * `outer`, one slot per generation the kernel holds (bpf/maps.bpf.h).
 */
export const MAPS = {
  exes: { outer: "bf_exes_gen_v2", key: InodeKey, value: Exe },
  files: { outer: "bf_files_gen_v2", key: InodeKey, value: FileRule },
  grants: { outer: "bf_grants_gen_v1", key: GrantKey, value: Grant },
  dests: { outer: "bf_dests_gen_v1", key: DestKey, value: Dest },
  ports: { outer: "bf_ports_gen_v1", key: PortKey, value: PortDest },
  confined: { outer: "bf_confined_gen_v1", key: InodeKey, value: Confinement },
} as const;
export type MapName = keyof typeof MAPS;

export const STATE_MAP = "bf_state_v2";
export const AGENT_MAP = "bf_agent_v1";
export const OBJECTS_MAP = "bf_objects_v1";
export const AGENT_CGROUPS_MAP = "bf_agent_cgroups_v1";
export const TASKS_MAP = "bf_tasks_v5";
/** The variables runtime.environment refuses, per slot (bpf/maps.bpf.h). */
export const ENV_MAP = "bf_env_v1";
/** Where the kernel writes a digest it measures at exec (bpf/maps.bpf.h). */
export const VERITY_MAP = "bf_verity_v1";
export const EVENTS_MAP = "bf_events_v5";
/** The network settings, per slot (bpf/maps.bpf.h). */
export const NET_MAP = "bf_net_v1";
export const STATS_MAP = "bf_stats_v2";
export const TREES_MAP = "bf_trees_v1";

/**
 * stat(2) reports st_dev in glibc's encoding; the kernel's inode->i_sb->s_dev uses
 * MAJOR << 20 | MINOR. Convert the former to the latter.
 */
export function kernelDev(stDev: number | bigint): number {
  const d = BigInt(stDev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return mkdev(Number(major), Number(minor));
}

/** The kernel's s_dev of a device (MKDEV: major << 20 | minor), as mountinfo's "major:minor" names it. */
export function mkdev(major: number, minor: number): number {
  return (major * 2 ** 20 + minor) % 2 ** 32;
}
