// The policy compiler: a pure function from a checked policy (and facts about the target
// host's files, handed in) to the entries of the kernel maps. Nothing here touches the
// kernel or the filesystem, so every byte it emits is pinned by unit tests.
import { Access, Exe, ExeFlag, FileFlag, GrantKey, Grant, InodeKey, FileRule, MAP_LIMITS, Mode, POLICY_ENTRY_INO, type MapName } from "../abi.ts";
import type { NetworkSpec } from "./net.ts";
import { compileNetworkOnce, type NetworkMemo } from "./net-memo.ts";
import { batches } from "./batches.ts";
export { batches, type Batch } from "./batches.ts";
import { RuleIds } from "./ids.ts";
import type { TreeWalk, WalkedDir } from "./tree.ts";
import { startupCode } from "../jit.ts";
import { firstSeen, seenMap } from "../seen.ts";

/** Where something was written in the policy. */
export interface Origin {
  file: string;
  line: number;
  col: number;
}

/** One rule the kernel can name in an event (its index is the rule id). */
export interface RuleInfo {
  id: number;
  /**
   * file: a policy's file rule; guard: a file or directory guarded for the agent; executable: a
   * named executable (events name it as the identity judged, and its file is immutable); runtime:
   * a rule of the runtime section that no file carries (runtime.fileless); destination,
   * confinement, network: a network.destinations entry, a network.confine entry, network.default.
   */
  kind: "file" | "guard" | "executable" | "runtime" | "destination" | "confinement" | "network";
  path: string;
  origin: Origin;
  /** For a rule no policy line wrote (the agent's own files): what it guards. */
  builtin?: string;
  /** The file protected, as compiled: apply re-checks that it is still the one at path. */
  inode: { dev: number; ino: bigint };
  mode: "enforce" | "monitor";
  /**
   * For an executable whose file another rule protects already (a policy rule naming who may
   * write it, or the agent's guard): that rule's id. Its file holds no entry of its own.
   */
  coveredBy?: number;
  /** A file rule on a named executable's file: reading (running) it stays open, writing needs a grant. */
  writeOnly?: boolean;
  /** A file rule on a directory: it covers everything below it (bf_file_rule.flags TREE, ROOT). */
  tree?: boolean;
  /** A named executable protected while it runs (it holds a grant): secure-execution mode, never started traced. */
  runtime?: boolean;
  /** A named executable nobody else attaches to or reads the memory of (it holds a grant, or runtime.ptrace names it). */
  untraceable?: boolean;
}

/** One kernel map entry and the policy text it came from. */
export interface MapEntry {
  map: MapName;
  key: Uint8Array;
  value: Uint8Array;
  origin: Origin;
  /** What the entry means, for people reading goldens and debug output. */
  readonly note: string;
}

// The entries a large policy makes by the ten thousand (a file rule's, a grant's, one for each
// file below a protected directory) write their note when it is read: numbers turned into text
// cost more than the rest of compiling such an entry, and only tests and debug output read them.

class FileRuleEntry implements MapEntry {
  readonly map = "files";
  constructor(
    readonly key: Uint8Array,
    readonly value: Uint8Array,
    readonly origin: Origin,
    private readonly rule: RuleInfo,
  ) {}
  get note(): string {
    const r = this.rule;
    return `protect ${r.tree ? "directory " : ""}${r.path} (dev ${r.inode.dev}, ino ${r.inode.ino}) as rule ${r.id}, ${r.mode}`;
  }
}

class GrantEntry implements MapEntry {
  readonly map = "grants";
  constructor(
    readonly key: Uint8Array,
    readonly value: Uint8Array,
    private readonly rule: RuleInfo,
    private readonly grant: FileRuleSpec["allow"][number],
    private readonly exe: IdentifiedExe,
  ) {}
  /** Found when asked: the grant's origin is itself built when read (src/compile/from-policy.ts). */
  get origin(): Origin {
    return this.grant.origin;
  }
  get note(): string {
    return `rule ${this.rule.id}: ${this.grant.executable} (${this.exe.where}) may ${this.grant.access.join("+")}`;
  }
}

class BelowEntry implements MapEntry {
  readonly map = "files";
  constructor(
    readonly key: Uint8Array,
    readonly value: Uint8Array,
    private readonly rule: RuleInfo,
    private readonly dir: boolean,
    private readonly dev: number,
    private readonly ino: bigint,
  ) {}
  get origin(): Origin {
    return this.rule.origin;
  }
  get note(): string {
    return `below ${this.rule.path}: ${this.dir ? "directory" : "file"} dev ${this.dev}, ino ${this.ino}`;
  }
}

/** What the compiler needs to know about a path on the target host. */
export interface PathFacts {
  dev: number; // kernel encoding of st_dev (see kernelDev)
  ino: bigint;
  type: "file" | "directory" | "other";
  /** For a file starting with "#!": the interpreter it names. */
  interpreter?: string;
  /** Why the kernel's name of it cannot be trusted to last (FAT; an overlay with layers on several file systems). */
  unsound?: Unsound;
}

/** Why the kernel's name of an inode cannot be trusted to last, and what to do instead. */
export interface Unsound {
  why: string;
  hint: string;
}

/** What a path is for decides what is worth learning about it (a script's "#!" only matters for executables). */
export type PathRole = "executable" | "file";
export type HostFacts = (path: string, role: PathRole) => PathFacts | null;
/** What is below a protected directory, named as the kernel names it (src/compile/tree.ts). */
export type HostTrees = (root: string) => TreeWalk;

/** A named executable, defaults filled in. */
export interface ExecutableSpec {
  name: string;
  path: string;
  inherit: boolean;
  origin: Origin;
  /** Refusing changes to its file: enforce, or only report them. */
  mode: "enforce" | "monitor";
  /** The fs-verity digest it must have (SHA-256, 64 lowercase hex digits), and where it was written. */
  digest?: { hex: string; origin: Origin };
}

/**
 * What measuring a file's fs-verity digest on this host gave (src/kernel/verity.ts), for an
 * executable the policy pins by digest. "kernel": this kernel cannot measure any file.
 */
export type Measured =
  | { kind: "digest"; hex: string }
  | { kind: "none" }
  | { kind: "unsupported"; why: string }
  | { kind: "kernel"; why: string }
  | { kind: "replaced" };

/** A file rule, defaults filled in; grants name executables of CompileInput.executables. */
export interface FileRuleSpec {
  path: string;
  mode: "enforce" | "monitor";
  origin: Origin;
  allow: {
    executable: string;
    access: ("read" | "write")[];
    origin: Origin;
  }[];
}

/**
 * A file or directory guarded for the agent: nobody but the agent writes it (a directory: nobody
 * else creates, links, removes or renames its entries, or mounts over it); reading stays open.
 */
export interface GuardedSpec {
  path: string;
  type: "file" | "directory";
  /** What it is, when no policy line names it ("the agent's binary"...). */
  builtin?: string;
  origin: Origin;
}

/** Self-protection: who the agent is and what it guards. */
export interface AgentSpec {
  /** The agent's binary: the only identity that may write what is guarded. */
  exe: string;
  guarded: GuardedSpec[];
  mode: "enforce" | "monitor";
}

/** The runtime section, defaults filled in; names are executables of CompileInput.executables. */
export interface RuntimeSpec {
  /** variables: as written ("LD_*", "NODE_OPTIONS"). */
  environment?: { variables: string[]; action: "deny" | "neutralise"; protect: string[] | "all"; mode: "enforce" | "monitor"; origin: Origin };
  ptrace?: { protect: string[] | "all"; tracers: string[]; mode: "enforce" | "monitor"; origin: Origin };
  fileless?: { allow: string[]; mode: "enforce" | "monitor"; origin: Origin };
}

/** The subset of a policy the kernel enforces today, and the agent's own protection. */
export interface CompileInput {
  executables: ExecutableSpec[];
  files: FileRuleSpec[];
  runtime?: RuntimeSpec;
  network?: NetworkSpec;
  agent?: AgentSpec;
  /** The ids rules keep across generations (a reload: those of the generation in force); none: 0, 1, 2, ... */
  ids?: RuleIds;
  /** What the network section of the generation in force compiled to (Compiled.network): taken again if nothing it depends on changed. */
  networkBefore?: NetworkMemo;
}

export interface CompileProblem {
  origin: Origin;
  message: string;
  hint: string;
  /** The kernel, not the policy or the file, cannot do what the policy asks (run exits 3). */
  kernel?: boolean;
}

export interface Compiled {
  rules: RuleInfo[];
  entries: MapEntry[];
  /** runtime.environment's variables as the kernel matches them ("NAME=" or a prefix); none without the section. */
  envPatterns?: string[];
  /** The generation's network settings (bf_net_policy); none without a network section. */
  net?: Uint8Array;
  /** What the operator should be told (host names' addresses not followed or shared). */
  warnings?: string[];
  /** The rules on directories, deepest first: apply labels what appears below them while it builds the generation. */
  trees?: TreeRule[];
  /** What the network section compiled to, for the next compile (src/compile/net-memo.ts). */
  network?: NetworkMemo;
}

/** A rule on a directory, for apply: what it has labelled, and the value a new entry below it takes. */
export interface TreeRule {
  rule: RuleInfo;
  /** bf_file_rule of what is below the directory (flags TREE). */
  child: Uint8Array;
  /** stat's st_dev:st_ino of each entry the walk met (a later walk names only what is new). */
  seen: Set<string>;
  /** Entries labelled with this rule (a rule below it, or a file rule, claims its own). */
  labelled: number;
  /** The directories the walk read, with their times: a later walk reads only those that changed. */
  dirs: WalkedDir[];
  /** The st_dev on which stat names inodes as the kernel does (src/compile/tree.ts); null: none. */
  statDev: bigint | null;
}

/** Does the kernel know this rule by a file (files, guards, executables)? */
export function carriesFile(rule: RuleInfo): boolean {
  return rule.kind === "file" || rule.kind === "guard" || rule.kind === "executable";
}

export type CompileResult = { ok: true; compiled: Compiled } | { ok: false; problems: CompileProblem[] };


/**
 * Values by inode (dev, ino), kept as numbers: no "dev:ino" string made and hashed for each of
 * thousands of files. An inode number past 2^53 (no exact double) stays a bigint key.
 */
class ByInode<T> {
  readonly #devs = new Map<number, Map<number | bigint, T>>();

  get(dev: number, ino: bigint): T | undefined {
    return this.#devs.get(dev)?.get(inoKey(ino));
  }

  has(dev: number, ino: bigint): boolean {
    return this.get(dev, ino) !== undefined;
  }

  set(dev: number, ino: bigint, value: T): void {
    let inodes = this.#devs.get(dev);
    if (!inodes) this.#devs.set(dev, (inodes = new Map()));
    inodes.set(inoKey(ino), value);
  }
}

function inoKey(ino: bigint): number | bigint {
  return ino <= MAX_EXACT ? Number(ino) : ino;
}
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** An executable found on the host, with the strings every grant to it repeats made once. */
interface IdentifiedExe {
  dev: number;
  ino: bigint;
  /** "dev:ino", the key of its grants. */
  inode: string;
  /** "dev 1, ino 2", for notes. */
  where: string;
}

/**
 * The grants of one policy rule: one entry per executable file (names that share a file share an
 * entry), in the order first granted. Arrays, not a Map per rule: a large policy has tens of
 * thousands of rules.
 */
interface RuleGrants {
  /** "dev:ino" of each executable granted, at the index of its entry. */
  exes: string[];
  entries: MapEntry[];
}

/** Set the entry for executable `exe` ("dev:ino") of a rule; `at` is where it already is, or -1. */
function setGrant(grants: RuleGrants, at: number, exe: string, entry: MapEntry): void {
  if (at !== -1) grants.entries[at] = entry;
  else {
    grants.exes.push(exe);
    grants.entries.push(entry);
  }
}

function itself(s: string): string {
  return s;
}

function accessBits(access: readonly ("read" | "write")[]): number {
  let bits = 0;
  for (const a of access) bits |= a === "read" ? Access.READ : Access.WRITE;
  return bits;
}

/** Words of a SHA-256 digest as bf_exe holds them: 8 bytes each, little-endian. */
function digestWords(hex: string): { digest0: bigint; digest1: bigint; digest2: bigint; digest3: bigint } {
  const word = (i: number) => Buffer.from(hex.slice(i * 16, i * 16 + 16), "hex").readBigUInt64LE(0);
  return { digest0: word(0), digest1: word(1), digest2: word(2), digest3: word(3) };
}

// compile() runs once per start or reload, and loops over thousands of rules: a loop in its own
// body makes the engine compile all of compile() again (its optimizing tier, to enter it in the
// middle of the loop) at every reload, 130 to 170 ms of the bench's VM each time, since such code
// serves one call only. Its long loops live in the small functions below instead, and in each().

/** f on each item, in order. */
function each<T>(items: Iterable<T>, f: (item: T) => void): void {
  for (const item of items) f(item);
}

/** What is below a protected directory that no more specific rule claimed: one entry each, labelled as the tree's. */
function labelBelow(
  tree: TreeRule,
  below: readonly { dev: number; ino: bigint; dir: boolean }[],
  protectedBy: ByInode<RuleInfo>,
  exeByInode: ByInode<ExecutableSpec>,
  childOfExe: Uint8Array,
  entries: MapEntry[],
): void {
  const { rule, child } = tree;
  for (const e of below) {
    if (protectedBy.has(e.dev, e.ino)) continue;
    tree.labelled++;
    protectedBy.set(e.dev, e.ino, rule);
    entries.push(new BelowEntry(InodeKey.encode({ ino: e.ino, dev: e.dev }), exeByInode.has(e.dev, e.ino) ? childOfExe : child, rule, e.dir, e.dev, e.ino));
  }
}

/** Every policy rule's grant entries appended to entries, in the policy's order; the executables ("dev:ino") they grant. */
function grantEntries(grantsOf: ReadonlyMap<RuleInfo, RuleGrants>, entries: MapEntry[]): Set<string> {
  const holdsGrant = new Set<string>();
  for (const grants of grantsOf.values()) {
    for (const entry of grants.entries) entries.push(entry);
    for (const exe of grants.exes) holdsGrant.add(exe);
  }
  return holdsGrant;
}

/** How many entries go to each map. */
function countByMap(entries: readonly MapEntry[]): Record<MapName, number> {
  const counts = { exes: 0, files: 0, grants: 0, dests: 0, ports: 0, confined: 0 };
  for (let i = 0; i < entries.length; i++) counts[entries[i]!.map]++;
  return counts;
}

/**
 * measured: the fs-verity digest of each executable the policy pins by digest, as this host
 * measures it on the very file compiled (required when one is pinned).
 */
export function compile(input: CompileInput, host: HostFacts, measured?: (path: string) => Measured, trees?: HostTrees): CompileResult {
  const problems: CompileProblem[] = [];
  const rules: RuleInfo[] = [];
  const entries: MapEntry[] = [];
  const protectedBy = new ByInode<RuleInfo>(); // inode -> a policy rule
  const grantsOf = new Map<RuleInfo, RuleGrants>(); // a policy file rule's grants, in the policy's order
  const ids = input.ids ?? new RuleIds();

  // Every named executable, by inode: the kernel needs them all to decide inheritance.
  const exes = new Map<string, IdentifiedExe>(); // name -> facts
  const identified: { spec: ExecutableSpec; dev: number; ino: bigint; verified: boolean }[] = [];
  const exeByInode = new ByInode<ExecutableSpec>();
  const unidentified = new Set<string>(); // names whose problem is already reported
  const identify = (exe: ExecutableSpec): void => {
    unidentified.add(exe.name);
    const facts = host(exe.path, "executable");
    if (!facts || facts.type !== "file") {
      problems.push({
        origin: exe.origin,
        message: `Cannot identify executable "${exe.name}": "${exe.path}" ${facts ? `is a ${facts.type}` : "does not exist on this host"}`,
        hint: "install the executable before starting the agent, or fix its path; bomfather knows a program by its file",
      });
      return;
    }
    if (facts.unsound) {
      problems.push({ origin: exe.origin, message: `Cannot identify executable "${exe.name}": "${exe.path}": ${facts.unsound.why}`, hint: facts.unsound.hint });
      return;
    }
    if (facts.interpreter !== undefined) {
      problems.push({
        origin: exe.origin,
        message: `Executable "${exe.name}": "${exe.path}" is a script run by "${facts.interpreter}", and the kernel knows a running script as its interpreter: a grant to "${exe.name}" would never apply`,
        hint: `name a compiled program, or the interpreter "${facts.interpreter}" (which trusts every script it runs)`,
      });
      return;
    }
    const inode = `${facts.dev}:${facts.ino}`;
    const twin = exeByInode.get(facts.dev, facts.ino);
    if (twin) {
      problems.push({
        origin: exe.origin,
        message: `"${exe.path}" is the same file as executable "${twin.name}" ("${twin.path}", line ${twin.origin.line}): one program, one name`,
        hint: "hard links and symbolic links to one program are one executable; keep one name",
      });
      return;
    }
    if (exe.digest && !digestHolds(exe, exe.digest, measured?.(exe.path), problems)) return;
    exeByInode.set(facts.dev, facts.ino, exe);
    exes.set(exe.name, { dev: facts.dev, ino: facts.ino, inode, where: `dev ${facts.dev}, ino ${facts.ino}` });
    unidentified.delete(exe.name);
    identified.push({ spec: exe, dev: facts.dev, ino: facts.ino, verified: exe.digest !== undefined });
  };
  each(input.executables, identify);

  // One rule per call: the engine optimizes this small function quickly, not all of compile().
  const protect = (spec: FileRuleSpec): void => {
    const facts = host(spec.path, "file");
    if (!facts) {
      problems.push({
        origin: spec.origin,
        message: `Cannot protect "${spec.path}": path does not exist on this host`,
        hint: "create the file before starting the agent, or remove the rule; bomfather protects files by inode and cannot protect a file that is not there",
      });
      return;
    }
    if (facts.unsound) {
      problems.push({ origin: spec.origin, message: `Cannot protect "${spec.path}": ${facts.unsound.why}`, hint: facts.unsound.hint });
      return;
    }
    const directory = facts.type === "directory";
    if (facts.type === "other" || (directory && !trees)) {
      problems.push({
        origin: spec.origin,
        message: `Cannot protect "${spec.path}": it is ${directory ? "a directory, and nothing walked it" : "neither a regular file nor a directory"}`,
        hint: directory ? "this is a bug: please report it" : "protect the files that hold your data; devices, sockets and FIFOs are not protected",
      });
      return;
    }
    if (!directory && spec.path.length > 1 && spec.path.endsWith("/")) {
      problems.push({
        origin: spec.origin,
        message: `Cannot protect "${spec.path}": it ends with "/" but is a file on this host`,
        hint: 'remove the "/" to protect the file, or fix the path',
      });
      return;
    }
    const earlier = protectedBy.get(facts.dev, facts.ino);
    if (earlier) {
      problems.push({
        origin: spec.origin,
        message: `"${spec.path}" is the same file as "${earlier.path}" (line ${earlier.origin.line}): a file can be protected by one rule only`,
        hint: "merge the two rules (hard links share one inode)",
      });
      return;
    }
    const rule: RuleInfo = {
      id: ids.id("file", spec.path),
      kind: "file",
      path: spec.path,
      origin: spec.origin,
      inode: { dev: facts.dev, ino: facts.ino },
      mode: spec.mode,
    };
    // A program's file is read to run it: a rule on it names who may update it, not who may run it.
    if (exeByInode.has(facts.dev, facts.ino)) rule.writeOnly = true;
    if (directory) {
      rule.tree = true;
      treeRules.push(rule);
    }
    rules.push(rule);
    protectedBy.set(facts.dev, facts.ino, rule);
    const grants: RuleGrants = { exes: [], entries: [] };
    grantsOf.set(rule, grants);
    // Where an executable already has the rule's entry (a map only for a long allow list).
    const granted = seenMap<string>(spec.allow.length);
    entries.push(new FileRuleEntry(InodeKey.encode({ ino: facts.ino, dev: facts.dev }), fileRuleValue(rule), spec.origin, rule));

    for (const allow of spec.allow) {
      const exe = exes.get(allow.executable);
      if (!exe) {
        // An executable this host lacks is a problem reported above, and the result is refused.
        // A name the policy never defined is something the checker excludes: meeting one is a bug.
        if (unidentified.has(allow.executable)) continue;
        throw new Error(`Bug: grant to "${allow.executable}", which is not an executable of the compiler's input (${allow.origin.file}:${allow.origin.line})`);
      }
      const at = firstSeen(grants.exes, grants.exes.length, exe.inode, itself, granted);
      const previous = at === -1 ? undefined : grants.entries[at];
      const bits = accessBits(allow.access) | (previous ? Grant.decode(previous.value).access : 0);
      const entry = new GrantEntry(GrantKey.encode({ rule_id: rule.id, dev: exe.dev, ino: exe.ino }), Grant.encode({ access: bits }), rule, allow, exe);
      setGrant(grants, at, exe.inode, entry);
    }
  };
  startupCode(protect);
  const treeRules: RuleInfo[] = [];
  each(input.files, protect);
  // What is below each protected directory, the deepest directories first: the most specific rule
  // decides (a file rule, or a rule on a directory below, claimed its inodes already).
  const treeOut: TreeRule[] = [];
  const agentExe = input.agent && treeRules.length ? host(input.agent.exe, "executable") : null;
  const depth = (path: string) => path.split("/").filter(Boolean).length;
  // Room left once every other file the policy names has its entry (each executable, each guard).
  let room = MAP_LIMITS.files - entries.length - input.executables.length - (input.agent?.guarded.length ?? 0);
  for (const rule of [...treeRules].sort((a, b) => depth(b.path) - depth(a.path))) {
    const found = trees!(rule.path);
    const walked = found.ok && found.entries.length > room ? { ok: false as const, why: `${found.entries.length} files and directories are below it, and ${Math.max(room, 0)} more fit` } : found;
    if (!walked.ok) {
      problems.push({
        origin: rule.origin,
        message: `Cannot protect the directory "${rule.path}": ${walked.why}`,
        hint: `the agent holds at most ${MAP_LIMITS.files} protected files and directories${treeRules.length > 1 ? " in all" : ""}; protect the directories that hold your secrets rather than a whole file system`,
      });
      continue;
    }
    room -= walked.entries.length;
    // The agent lists the directories to label them again (a directory moved in, a reload).
    if (agentExe) addAgentGrant(grantsOf.get(rule)!, agentExe, rule, Access.READ, rule.origin, ", to walk the directory");
    const child = fileRuleValue(rule, FileFlag.TREE);
    // A named executable below it is read to run it: writing it needs the rule, running it does not.
    const childOfExe = FileRule.encode({ ...FileRule.decode(child), guards: Access.WRITE });
    const tree: TreeRule = { rule, child, seen: new Set(walked.entries.map((e) => e.seen)), labelled: 0, dirs: walked.dirs, statDev: walked.statDev };
    treeOut.push(tree);
    labelBelow(tree, walked.entries, protectedBy, exeByInode, childOfExe, entries);
  }
  if (input.agent) guardForAgent(input.agent, host, rules, entries, protectedBy, grantsOf, problems, ids);
  const holdsGrant = grantEntries(grantsOf, entries); // "dev:ino" of each named executable a policy rule grants
  // A destination's allow is a grant too; a confinement is a restriction, which no hijack escapes.
  const confinedNames = new Set<string>();
  each(input.network?.destinations ?? [], (d) => {
    for (const name of d.allow ?? []) if (exes.has(name)) holdsGrant.add(exes.get(name)!.inode);
  });
  each(input.network?.confine ?? [], (c) => confinedNames.add(c.executable));

  const { ptrace, fileless, environment } = input.runtime ?? {};
  /** Does a runtime part's `protect` ("all", or names) name this executable? */
  const names = (protect: string[] | "all", name: string) => protect === "all" || protect.includes(name);

  // Named executables last (their rule ids follow every file rule's): each is a rule that names it in
  // events and keeps its file from changing. A file a policy rule protects keeps that rule (whoever
  // it grants write may update the program); any other named executable's file nobody may change.
  const named = ({ spec, dev, ino, verified }: (typeof identified)[number]): void => {
    const inode = `${dev}:${ino}`;
    const covering = protectedBy.get(dev, ino);
    const rule: RuleInfo = { id: ids.id("executable", spec.path), kind: "executable", path: spec.path, origin: spec.origin, inode: { dev, ino }, mode: spec.mode };
    if (covering) rule.coveredBy = covering.id;
    rules.push(rule);
    const key = InodeKey.encode({ ino, dev });
    if (!covering) {
      protectedBy.set(dev, ino, rule);
      entries.push({
        map: "files",
        key,
        value: fileRuleValue(rule),
        origin: spec.origin,
        note: `executable ${spec.name}: ${spec.path} (dev ${dev}, ino ${ino}) is immutable as rule ${rule.id}, ${spec.mode}`,
      });
    }
    // A program that holds a grant is protected while it runs (bpf/runtime.bpf.h), by default;
    // runtime.ptrace protects the programs it names (all, by default) too.
    const runtime = holdsGrant.has(inode);
    // runtime.environment: enforce starts the program in secure-execution mode (the loader ignores
    // its variables) and, with deny, kills it if started with one; monitor only reports them.
    const envListed = environment !== undefined && names(environment.protect, spec.name);
    const envEnforce = envListed && environment.mode === "enforce";
    const envScan = envListed && (environment.action === "deny" || environment.mode === "monitor");
    const traceListed = ptrace !== undefined && names(ptrace.protect, spec.name);
    const traceGuarded = runtime || traceListed;
    const traceMonitor = traceListed ? ptrace.mode === "monitor" : spec.mode === "monitor";
    if (runtime) rule.runtime = true;
    if (traceGuarded) rule.untraceable = true;
    const flags =
      (spec.inherit ? ExeFlag.INHERIT : 0) |
      (verified ? ExeFlag.DIGEST | ExeFlag.MEASURED : 0) |
      (runtime || envEnforce ? ExeFlag.SECURE_EXEC : 0) |
      (envScan ? ExeFlag.ENV_DENY : 0) |
      (envScan && environment!.mode === "monitor" ? ExeFlag.ENV_MONITOR : 0) |
      (spec.mode === "monitor" ? ExeFlag.MONITOR : 0) |
      (traceGuarded ? ExeFlag.PTRACE : 0) |
      (traceGuarded && traceMonitor ? ExeFlag.PTRACE_MONITOR : 0) |
      (ptrace?.tracers.includes(spec.name) ? ExeFlag.TRACER : 0) |
      (fileless?.allow.includes(spec.name) ? ExeFlag.FILELESS_OK : 0) |
      (confinedNames.has(spec.name) ? ExeFlag.CONFINED : 0);
    entries.push({
      map: "exes",
      key,
      value: Exe.encode({ flags, rule_id: rule.id, ...(spec.digest ? digestWords(spec.digest.hex) : {}) }),
      origin: spec.origin,
      note: `executable ${spec.name}: ${spec.path} (dev ${dev}, ino ${ino}) as rule ${rule.id}${spec.inherit ? ", children inherit" : ""}${runtime ? ", protected while it runs" : ""}${spec.digest ? `, fs-verity sha256:${spec.digest.hex}` : ""}`,
    });
  };
  each(identified, named);

  // The policy's own runtime settings: one entry of the exes map, at inode 0 (no file has it).
  if (fileless) {
    const rule: RuleInfo = { id: ids.id("runtime", "runtime.fileless"), kind: "runtime", path: "runtime.fileless", origin: fileless.origin, inode: { dev: 0, ino: 0n }, mode: fileless.mode };
    rules.push(rule);
    entries.push({
      map: "exes",
      key: InodeKey.encode({ ino: BigInt(POLICY_ENTRY_INO), dev: 0 }),
      value: Exe.encode({ flags: ExeFlag.FILELESS_ON | (fileless.mode === "monitor" ? ExeFlag.FILELESS_MONITOR : 0), rule_id: rule.id }),
      origin: fileless.origin,
      note: `runtime.fileless as rule ${rule.id}, ${fileless.mode}: programs with no file name are refused${fileless.allow.length ? ` except to ${fileless.allow.join(", ")}` : ""}`,
    });
  }

  const network = input.network ? compileNetworkOnce(input.network, exes, rules, entries, problems, ids, input.networkBefore) : undefined;

  // The checker refuses a policy whose rules would not fit (src/policy/support.ts); names that
  // share an inode only make the counts smaller, so an overflow here is a bug. (Port entries depend
  // on how ranges split: compileNetwork reports those.)
  const counts = countByMap(entries);
  for (const map of ["exes", "files", "grants", "confined"] as const) {
    if (counts[map] > MAP_LIMITS[map] && !problems.length) throw new Error(`Bug: ${counts[map]} entries for the ${map} map, which holds ${MAP_LIMITS[map]}`);
  }
  const envPatterns = environment?.variables.map((v) => (v.endsWith("*") ? v.slice(0, -1) : `${v}=`));
  return problems.length
    ? { ok: false, problems }
    : {
        ok: true,
        compiled: {
          rules,
          entries,
          ...(envPatterns ? { envPatterns } : {}),
          ...(network ? { net: network.net } : {}),
          ...(network?.memo ? { network: network.memo } : {}),
          ...(network?.warnings.length ? { warnings: network.warnings } : {}),
          ...(treeOut.length ? { trees: treeOut } : {}),
        },
      };
}

/**
 * The kernel's value for a rule: a policy rule guards reading and writing (writing only on a named
 * executable's file); an agent guard and a named executable's own rule, writing only.
 */
export function fileRuleValue(rule: RuleInfo, flags: number = rule.tree ? FileFlag.TREE | FileFlag.ROOT : 0): Uint8Array {
  return FileRule.encode({
    rule_id: rule.id,
    mode: rule.mode === "monitor" ? Mode.MONITOR : Mode.ENFORCE,
    guards: rule.kind === "file" && !rule.writeOnly ? Access.READ | Access.WRITE : Access.WRITE,
    flags,
  });
}

/** Does the executable's file have the digest the policy pins? Reports why not. */
function digestHolds(exe: ExecutableSpec, digest: { hex: string; origin: Origin }, m: Measured | undefined, problems: CompileProblem[]): boolean {
  const pinned = `sha256:${digest.hex}`;
  const refuse = (message: string, hint: string, kernel = false) => {
    problems.push({ origin: digest.origin, message: `Executable "${exe.name}": "${exe.path}" ${message}`, hint, kernel });
    return false;
  };
  if (!m) throw new Error(`Bug: executable "${exe.name}" is pinned by digest and nothing measured it`);
  switch (m.kind) {
    case "digest":
      if (m.hex === digest.hex) return true;
      return refuse(
        `has fs-verity digest sha256:${m.hex}, and the policy pins ${pinned}`,
        `the file is not the one the policy trusts (another build or version?); if it is the one to trust, put its digest (bomfather digest "${exe.path}") in the policy`,
      );
    case "none":
      return refuse(
        `has no fs-verity digest (fs-verity is not enabled on it), and the policy pins ${pinned}`,
        `enable it with "fsverity enable ${exe.path}" (the file becomes read-only for good), then check that "fsverity measure" prints ${pinned}`,
      );
    case "unsupported":
      return refuse(
        `cannot have an fs-verity digest: ${m.why}, and the policy pins ${pinned}`,
        "keep the program on a file system with fs-verity (ext4 made or tuned with -O verity, f2fs, btrfs), then enable it on the file (fsverity enable)",
      );
    case "kernel":
      return refuse(`cannot be verified on this host: ${m.why}`, "run bomfather on a kernel built with CONFIG_FS_VERITY=y, or remove the digest (the policy would trust any content at that path)", true);
    case "replaced":
      return refuse("was replaced while it was being measured", "start again once the program is in place");
  }
}

/**
 * The agent's files and directories become rules that guard writing only, granted to the agent's
 * binary. A path a policy rule protects already keeps that rule, and the agent gets read and write.
 */
function guardForAgent(
  agent: AgentSpec,
  host: HostFacts,
  rules: RuleInfo[],
  entries: MapEntry[],
  protectedBy: ByInode<RuleInfo>,
  grantsOf: Map<RuleInfo, RuleGrants>,
  problems: CompileProblem[],
  ids: RuleIds,
): void {
  const exe = host(agent.exe, "executable");
  if (!exe || exe.type !== "file") {
    throw new Error(`Bug: the agent's own binary "${agent.exe}" cannot be identified`);
  }
  const guardedHere = new Set<string>();
  for (const g of agent.guarded) {
    const facts = host(g.path, "file");
    if (facts?.unsound) {
      problems.push({ origin: g.origin, message: `Cannot guard "${g.path}" for the agent: ${facts.unsound.why}`, hint: facts.unsound.hint });
      continue;
    }
    if (!facts || facts.type !== g.type) {
      problems.push({
        origin: g.origin,
        message: `Cannot guard "${g.path}" for the agent: ${facts ? `it is a ${facts.type}, not a ${g.type}` : "it does not exist on this host"}`,
        hint: g.builtin ? "this is a bug: please report it" : "create it before starting the agent, or remove it from agent.protection.files",
      });
      continue;
    }
    const inode = `${facts.dev}:${facts.ino}`;
    if (guardedHere.has(inode)) continue; // the policy file given twice, a path named twice: one rule
    guardedHere.add(inode);
    const policyRule = protectedBy.get(facts.dev, facts.ino);
    if (policyRule) {
      addAgentGrant(grantsOf.get(policyRule)!, exe, policyRule, Access.READ | Access.WRITE, g.origin);
      continue;
    }
    const rule: RuleInfo = {
      id: ids.id("guard", g.path),
      kind: "guard",
      path: g.path,
      origin: g.origin,
      builtin: g.builtin,
      inode: { dev: facts.dev, ino: facts.ino },
      mode: agent.mode,
    };
    rules.push(rule);
    protectedBy.set(facts.dev, facts.ino, rule); // a named executable that is the agent's own file keeps this rule
    entries.push({
      map: "files",
      key: InodeKey.encode({ ino: facts.ino, dev: facts.dev }),
      value: fileRuleValue(rule),
      origin: g.origin,
      note: `guard ${g.type} ${g.path} (dev ${facts.dev}, ino ${facts.ino}) for the agent as rule ${rule.id}: writing needs the agent`,
    });
    entries.push(agentGrant(exe, rule, Access.WRITE, g.origin));
  }
}

/** The agent's grant on a rule (its binary's inode). */
function agentGrant(exe: PathFacts, rule: RuleInfo, access: number, origin: Origin, why = ""): MapEntry {
  const may = [access & Access.READ ? "read" : "", access & Access.WRITE ? "write" : ""].filter(Boolean).join("+");
  return {
    map: "grants",
    key: GrantKey.encode({ rule_id: rule.id, dev: exe.dev, ino: exe.ino }),
    value: Grant.encode({ access }),
    origin,
    note: `rule ${rule.id}: the agent (dev ${exe.dev}, ino ${exe.ino}) may ${may}${why}`,
  };
}

/** Adds access to what a rule grants the agent already (a directory it walks, a file it guards that a rule protects). */
function addAgentGrant(grants: RuleGrants, exe: PathFacts, rule: RuleInfo, access: number, origin: Origin, why = ""): void {
  const id = `${exe.dev}:${exe.ino}`;
  const at = grants.exes.indexOf(id);
  const held = at === -1 ? 0 : Grant.decode(grants.entries[at]!.value).access;
  setGrant(grants, at, id, agentGrant(exe, rule, access | held, origin, why));
}

startupCode(compile, ByInode.prototype, inoKey, setGrant, itself, accessBits, fileRuleValue, batches, each, labelBelow, grantEntries, countByMap);
