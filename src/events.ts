// Kernel events -> JSON lines. One object per line, stable keys, for people and for jq.
import { readlinkSync } from "node:fs";
import { constants } from "node:os";
import { Access, Event, EventKind, Fileless, NetReason, Op, RULE_BUILTIN, Unsafe, Verdict } from "./abi.ts";
import { formatIPv4, formatIPv6, isMappedV4 } from "./policy/net.ts";

/** A policy rule as an event names it. */
export interface EventRule {
  path: string;
  file: string;
  line: number;
  /** For a rule no policy line wrote: what it guards ("the agent's binary"). */
  builtin?: string;
}

/** The rule `id` of policy generation `generation`, when it is known. */
export type RuleLookup = (generation: number, id: number) => EventRule | undefined;

export interface EventLine {
  time: string;
  /**
   * The policy's own words: "deny" (enforce mode, refused), "monitor" (monitor mode, let through),
   * "allow" (granted; reported only with agent.events.include: allow).
   */
  action: "deny" | "monitor" | "allow";
  kind: "file" | "identity" | "agent" | "runtime" | "network";
  op: OpName;
  pid: number;
  tid: number;
  uid: number;
  comm: string;
  exe: string;
  /**
   * Who the decision judged the process as: the named executable it acted as (its own, or one it
   * inherited from the program that started it), by the policy's path; else its own executable.
   */
  identity: string;
  target: string;
  access: string[];
  rule: string;
  /** The policy generation that decided (0 for built-in protections). */
  generation: number;
  /** What the attempt carried, for operations on the agent: "SIGKILL", "bpf(BPF_MAP_GET_FD_BY_ID)"...; why a connection was refused. */
  detail?: string;
  /** Network events: the socket's protocol ("tcp", "udp", "mptcp", "icmp", "raw"...). */
  protocol?: string;
}

const OP_NAMES = {
  [Op.OPEN]: "open",
  [Op.SETATTR]: "setattr",
  [Op.UNLINK]: "unlink",
  [Op.RENAME]: "rename",
  [Op.RECEIVE]: "receive",
  [Op.SET_EXE]: "set_exe_file",
  [Op.SIGNAL]: "signal",
  [Op.SIGIO]: "sigio",
  [Op.RLIMIT]: "rlimit",
  [Op.PTRACE]: "ptrace",
  [Op.BPF]: "bpf",
  [Op.CGROUP]: "cgroup_write",
  [Op.UMOUNT]: "umount",
  [Op.PROC]: "proc_write",
  [Op.UNSAFE_EXEC]: "unsafe_exec",
  [Op.CREATE]: "create",
  [Op.XATTR]: "xattr",
  [Op.IOCTL]: "ioctl",
  [Op.DIGEST]: "digest_mismatch",
  [Op.TRACED_EXEC]: "traced_exec",
  [Op.FILELESS]: "fileless_exec",
  [Op.ENVIRONMENT]: "environment",
  [Op.CONNECT]: "connect",
  [Op.SEND]: "send",
  [Op.SOCKET]: "socket",
} as const;
export type OpName = (typeof OP_NAMES)[keyof typeof OP_NAMES] | "unknown";

const FILELESS: Record<number, string> = {
  [Fileless.MEMFD]: "a memfd_create file",
  [Fileless.TMPFILE]: "an O_TMPFILE file never linked",
  [Fileless.DELETED]: "a deleted file",
};
const KINDS = { [EventKind.FILE]: "file", [EventKind.IDENTITY]: "identity", [EventKind.AGENT]: "agent", [EventKind.RUNTIME]: "runtime", [EventKind.NETWORK]: "network" } as const;
const NET_REASONS: Record<number, string> = {
  [NetReason.RESERVED]: "the destination is reserved for the executables its allow names",
  [NetReason.CONFINED]: "the executable (or the one it descends from) is confined to other destinations",
  [NetReason.DEFAULT]: "no destination names it, and network.default is deny",
  [NetReason.OPAQUE]: "a socket whose traffic the rules cannot see, for a confined executable or under default: deny",
};
const PROTOCOLS: Record<number, string> = { 0: "ip", 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite", 255: "raw", 262: "mptcp" };
const FAMILIES: Record<number, string> = { 2: "AF_INET", 10: "AF_INET6", 17: "AF_PACKET", 40: "AF_VSOCK", 44: "AF_XDP" };
const SOCKET_TYPES: Record<number, string> = { 1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET", 10: "SOCK_PACKET" };

/** "10.0.0.5:443", "[2001:db8::1]:443" (an IPv4-mapped address as IPv4). */
export function destinationText(addr: Uint8Array, port: number): string {
  const mapped = isMappedV4(addr);
  return mapped ? `${formatIPv4(addr.subarray(12, 16))}:${port}` : `[${formatIPv6(addr)}]:${port}`;
}
const SIGNALS = Object.fromEntries(Object.entries(constants.signals).map(([name, n]) => [n, name]));
const BPF_COMMANDS: Record<number, string> = { 13: "BPF_PROG_GET_FD_BY_ID", 14: "BPF_MAP_GET_FD_BY_ID", 30: "BPF_LINK_GET_FD_BY_ID" };
const IOCTLS: Record<number, string> = {
  0x40086602: "FS_IOC_SETFLAGS",
  0x40046602: "FS_IOC32_SETFLAGS",
  0x401c5820: "FS_IOC_FSSETXATTR",
  0x40806685: "FS_IOC_ENABLE_VERITY",
};
const OBJECT_KINDS: Record<number, string> = { 1: "map", 2: "program", 3: "link" };
const RLIMITS = ["RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"];
const UNSAFE: Record<number, string> = {
  [Unsafe.TRACED]: "started traced: not trusted as the agent",
  [Unsafe.ENVIRONMENT]: "started with a BUN_ or NODE_ variable: not trusted as the agent",
  [Unsafe.UNREAD]: "started with an environment that could not be read in full: not trusted as the agent",
};

function accessNames(bits: number): string[] {
  const out: string[] = [];
  if (bits & Access.READ) out.push("read");
  if (bits & Access.WRITE) out.push("write");
  return out;
}

/** What an attempt on the agent carried, in words. */
function detailOf(op: number, arg: number): string | undefined {
  switch (op) {
    case Op.SIGNAL:
    case Op.SIGIO:
      return SIGNALS[arg] ?? `signal ${arg}`;
    case Op.RLIMIT:
      return RLIMITS[arg] ?? `resource ${arg}`;
    case Op.PTRACE:
      return arg ? `mode 0x${arg.toString(16)}` : "PTRACE_TRACEME";
    case Op.BPF:
      return BPF_COMMANDS[arg] ? `bpf(${BPF_COMMANDS[arg]})` : OBJECT_KINDS[arg] ? `a file descriptor of the agent's ${OBJECT_KINDS[arg]}` : `bpf command ${arg}`;
    case Op.UNSAFE_EXEC:
      return UNSAFE[arg];
    case Op.IOCTL:
      return IOCTLS[arg] ?? `ioctl 0x${arg.toString(16)}`;
    case Op.ENVIRONMENT:
      return arg === 2 ? "its environment could not be read in full" : "started with a variable runtime.environment refuses";
    case Op.FILELESS:
      return FILELESS[arg] ?? `fileless kind ${arg}`;
    case Op.TRACED_EXEC:
      return "started traced (PTRACE_TRACEME or a traced caller): refused, as a tracer could take it over";
    case Op.DIGEST:
      return "its content lacks the fs-verity digest the policy pins: it runs without any grant";
    default:
      return undefined;
  }
}

/**
 * The kernel names the executable by its file name where it cannot build a path: the process's
 * /proc entry gives the whole path while it lives.
 */
function fullExe(exe: string, pid: number): string {
  if (exe === "" || exe.startsWith("/")) return exe;
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return exe;
  }
}

function ruleText(e: { rule_id: number; generation: number; kind: number }, rule: EventRule | undefined): string {
  if (e.rule_id === RULE_BUILTIN && e.kind === EventKind.RUNTIME) return "builtin: the loader's preload list";
  if (e.rule_id === RULE_BUILTIN) return e.generation === 0 ? "builtin: self-protection" : "builtin";
  if (!rule) return `unknown rule ${e.rule_id} of policy generation ${e.generation}`;
  if (rule.builtin) return `builtin: ${rule.builtin}`;
  return `${rule.file}:${rule.line}`;
}

/**
 * Decode one ring-buffer record. wallOffsetNs converts the kernel's boot clock to Unix
 * time (Date.now() in ns minus CLOCK_BOOTTIME, sampled at start).
 */
export function decodeEvent(record: Uint8Array, rules: RuleLookup, wallOffsetNs: bigint): EventLine | null {
  const e = Event.decode(record);
  if (!(e.kind in KINDS)) return null;
  const rule = e.rule_id === RULE_BUILTIN ? undefined : rules(e.generation, e.rule_id);
  const ms = Number((e.boot_ns + wallOffsetNs) / 1_000_000n);
  const exe = fullExe(e.exe, e.pid);
  const actor = e.identity ? rules(e.generation, e.identity - 1) : undefined;
  const line: EventLine = {
    time: new Date(ms).toISOString(),
    action: e.verdict === Verdict.MONITOR ? "monitor" : e.verdict === Verdict.ALLOW ? "allow" : "deny",
    kind: KINDS[e.kind as keyof typeof KINDS],
    op: OP_NAMES[e.op as keyof typeof OP_NAMES] ?? "unknown",
    pid: e.pid,
    tid: e.tid,
    uid: e.uid,
    comm: e.comm,
    exe,
    identity: actor?.path ?? (e.identity ? `unknown executable rule ${e.identity - 1} of policy generation ${e.generation}` : exe),
    // Hooks that see only a dentry send no path: the rule's path names the file then.
    // A variable: its name, not its value.
    target: e.op === Op.ENVIRONMENT ? e.target.split("=")[0]! : e.target || (e.target_pid ? `pid ${e.target_pid}` : (rule?.path ?? "")),
    access: accessNames(e.access),
    rule: e.kind === EventKind.IDENTITY && e.rule_id === RULE_BUILTIN ? "builtin: executable identity" : ruleText(e, rule),
    generation: e.generation,
  };
  const detail = detailOf(e.op, e.arg);
  if (detail) line.detail = detail;
  if (e.kind === EventKind.NETWORK) {
    line.protocol = PROTOCOLS[e.protocol] ?? `protocol ${e.protocol}`;
    line.detail = NET_REASONS[e.reason] ?? `reason ${e.reason}`;
    const type = e.arg & 0xf;
    line.target =
      e.op === Op.SOCKET ? `${FAMILIES[e.family] ?? `family ${e.family}`} ${SOCKET_TYPES[type] ?? `type ${type}`}` : destinationText(e.addr, e.port);
  }
  return line;
}
