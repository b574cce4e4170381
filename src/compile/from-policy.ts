// From a checked policy to the compiler's input, and from compile problems back to
// diagnostics. The host facts come from stat(2) on the host the agent runs on.
import { statSync } from "node:fs";
import { kernelDev } from "../abi.ts";
import { DEFAULTS, itemStarts, locate, scriptInterpreter, valueStarts, type Diagnostic, type Policy, type ValuePath } from "../policy/index.ts";
import type { ProbedPath } from "../../ffi/shim.ts";
import { parseCidr, parseHost, parsePort, type Cidr } from "../policy/net.ts";
import type { AgentSpec, CompileInput, CompileProblem, ExecutableSpec, FileRuleSpec, GuardedSpec, Origin, PathFacts, PathRole, RuntimeSpec } from "./compile.ts";
import type { NetworkSpec, Protocol } from "./net.ts";
import { startupCode } from "../jit.ts";

/**
 * A grant of a file rule. Where it was written is found when asked: only a problem or debug
 * output asks, and a large policy has tens of thousands of grants.
 */
class GrantSpec {
  constructor(
    readonly executable: string,
    readonly access: ("read" | "write")[],
    private readonly origins: (path: ValuePath) => Origin,
    private readonly rule: number,
    private readonly index: number,
  ) {}
  get origin(): Origin {
    return this.origins(["files", this.rule, "allow", this.index]);
  }
}

/** The compiler's input from a policy returned by checkPolicy (which knows where each value was written). */
export function compileInputOf(policy: Policy): CompileInput {
  const origin: (path: ValuePath) => Origin = valueStarts(policy);
  const defaultMode = policy.mode ?? DEFAULTS.mode;
  const executables = Object.entries(policy.executables ?? {}).map(([name, exe]): ExecutableSpec => ({
    name,
    path: exe.path,
    inherit: exe.inherit ?? DEFAULTS.inherit,
    origin: origin(["executables", name, "path"]),
    mode: defaultMode,
    // The checker accepted only "sha256:" and 64 hex digits.
    ...(exe.digest ? { digest: { hex: exe.digest.slice("sha256:".length).toLowerCase(), origin: origin(["executables", name, "digest"]) } } : {}),
  }));
  const rules = policy.files ?? [];
  const files = fileSpecsOf(rules, itemStarts(policy, ["files"], "path", rules.length), origin, defaultMode);
  const runtime: RuntimeSpec = {};
  const { ptrace, fileless, environment } = policy.runtime ?? {};
  const keyOrigin = (path: ValuePath): Origin => {
    const { file, line, col } = locate(policy, path, "key");
    return { file, line, col };
  };
  if (environment) {
    runtime.environment = {
      variables: [...(environment.variables ?? DEFAULTS.envVariables)],
      action: environment.action ?? DEFAULTS.envAction,
      protect: environment.protect ?? "all",
      mode: environment.mode ?? defaultMode,
      origin: keyOrigin(["runtime", "environment"]),
    };
  }
  if (ptrace) {
    runtime.ptrace = { protect: ptrace.protect ?? "all", tracers: ptrace.tracers ?? [], mode: ptrace.mode ?? defaultMode, origin: keyOrigin(["runtime", "ptrace"]) };
  }
  if (fileless) runtime.fileless = { allow: fileless.allow ?? [], mode: fileless.mode ?? defaultMode, origin: keyOrigin(["runtime", "fileless"]) };
  const input: CompileInput = { executables, files, runtime };
  if (policy.network) input.network = networkSpecOf(policy, origin, keyOrigin, defaultMode);
  return input;
}

/** The checker accepted every address and port: parsing again cannot fail. */
function networkSpecOf(policy: Policy, origin: (path: ValuePath) => Origin, keyOrigin: (path: ValuePath) => Origin, defaultMode: "enforce" | "monitor"): NetworkSpec {
  const net = policy.network!;
  const must = <T>(r: { ok: true; value: T } | { ok: false; message: string }): T => {
    if (!r.ok) throw new Error(`Bug: the checker accepted a network value the compiler cannot read: ${r.message}`);
    return r.value;
  };
  return {
    default: net.default ?? DEFAULTS.networkDefault,
    mode: defaultMode,
    origin: keyOrigin(net.default !== undefined ? ["network", "default"] : ["network"]),
    destinations: Object.entries(net.destinations ?? {}).map(([name, d]) => ({
      name,
      addresses: addressesOf(policy, name, d.addresses ?? [], must),
      hosts: (d.hosts ?? []).map((h, i) => ({ name: must(parseHost(h)), origin: origin(["network", "destinations", name, "hosts", i]) })),
      ports: (d.ports ?? []).map((p) => must(parsePort(p))),
      protocols: d.protocol ? [d.protocol as Protocol] : ["tcp", "udp"],
      ...(d.allow ? { allow: [...d.allow] } : {}),
      mode: d.mode ?? defaultMode,
      origin: keyOrigin(["network", "destinations", name]),
    })),
    confine: (net.confine ?? []).map((c, i) => ({
      executable: c.executable,
      to: [...c.to],
      mode: c.mode ?? defaultMode,
      origin: keyOrigin(["network", "confine", i]),
    })),
  };
}

// The two loops below run once per rule and per address, by the ten thousand: plain loops in
// functions of their own (kept out of the engine's costliest tier, src/jit.ts), not callbacks made
// at each call.

/** The file rules, defaults filled in; paths: where each rule's path was written. */
function fileSpecsOf(rules: NonNullable<Policy["files"]>, paths: Origin[], origin: (path: ValuePath) => Origin, defaultMode: "enforce" | "monitor"): FileRuleSpec[] {
  const out: FileRuleSpec[] = new Array(rules.length);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    const allow: GrantSpec[] = new Array(rule.allow.length);
    for (let j = 0; j < rule.allow.length; j++) {
      const grant = rule.allow[j]!;
      allow[j] = new GrantSpec(grant.executable, typeof grant.access === "string" ? [grant.access] : grant.access, origin, i, j);
    }
    out[i] = { path: rule.path, mode: rule.mode ?? defaultMode, origin: paths[i]!, allow };
  }
  return out;
}

/** A destination's addresses, each with where it was written (found in one walk of the source map). */
function addressesOf(policy: Policy, name: string, addresses: string[], must: <T>(r: { ok: true; value: T } | { ok: false; message: string }) => T): { cidr: Cidr; origin: Origin }[] {
  const origins = itemStarts(policy, ["network", "destinations", name, "addresses"], undefined, addresses.length);
  const out: { cidr: Cidr; origin: Origin }[] = new Array(addresses.length);
  for (let i = 0; i < addresses.length; i++) out[i] = { cidr: must(parseCidr(addresses[i]!)), origin: origins[i]! };
  return out;
}

/** Where the agent's own things are on this host. */
export interface AgentPaths {
  /** The agent's binary (realpath of /proc/self/exe). */
  exe: string;
  /** The policy file the agent enforces. */
  policyFile: string;
  /** Directories holding its pins and its state. */
  pins: string;
  state: string;
  /** The loader's preload list (/etc/ld.so.preload), when it exists: nobody writes or replaces it. */
  preloadList?: string;
}

/** What self-protection guards: the agent's binary, its policy, its pins, its state, agent.protection.files. */
export function agentSpecOf(policy: Policy, paths: AgentPaths): AgentSpec {
  const builtin: Origin = { file: "builtin", line: 0, col: 0 };
  const guarded: GuardedSpec[] = [
    { path: paths.exe, type: "file", builtin: "the agent's binary", origin: builtin },
    { path: paths.policyFile, type: "file", builtin: "the policy file", origin: builtin },
    { path: paths.pins, type: "directory", builtin: "the agent's pinned BPF objects", origin: builtin },
    { path: paths.state, type: "directory", builtin: "the agent's state and control socket", origin: builtin },
  ];
  if (paths.preloadList) guarded.push({ path: paths.preloadList, type: "file", builtin: "the loader's preload list", origin: builtin });
  (policy.agent?.protection?.files ?? []).forEach((path, i) => {
    const { file, line, col } = locate(policy, ["agent", "protection", "files", i]);
    guarded.push({ path, type: "file", origin: { file, line, col } });
  });
  return { exe: paths.exe, guarded, mode: policy.agent?.protection?.mode ?? policy.mode ?? DEFAULTS.mode };
}

/** The host names a policy's network section names (lower case, without a final dot), once each. */
export function hostsOf(policy: Policy): string[] {
  const out = new Set<string>();
  for (const d of Object.values(policy.network?.destinations ?? {})) {
    for (const h of d.hosts ?? []) {
      const r = parseHost(h);
      if (r.ok) out.add(r.value);
    }
  }
  return [...out];
}

/** Every path a policy names on the host (executables, protected files, what the agent guards), and `also`, once each. */
export function pathsOf(input: CompileInput, also: readonly string[] = []): string[] {
  const paths = new Set<string>(also);
  for (const e of input.executables) paths.add(e.path);
  for (const f of input.files) paths.add(f.path);
  if (input.agent) {
    paths.add(input.agent.exe);
    for (const g of input.agent.guarded) paths.add(g.path);
  }
  return [...paths];
}


/**
 * hostFacts from what the probe already learned of each path (src/kernel/probe.ts probePaths): no
 * second stat for the files and directories the kernel named.
 */
export function probedFacts(path: string, role: PathRole, probed: ProbedPath | undefined): PathFacts | null {
  if (!probed || probed.kind === "missing") return probed ? null : hostFacts(path, role);
  if (!probed.key || probed.kind === "other") {
    const facts = hostFacts(path, role, () => probed.key);
    if (facts && probed.unsound) facts.unsound = probed.unsound;
    return facts;
  }
  const facts: PathFacts = { dev: probed.key.dev, ino: probed.key.ino, type: probed.kind as "file" | "directory" };
  if (probed.unsound) facts.unsound = probed.unsound;
  const interpreter = facts.type === "file" && role === "executable" ? scriptInterpreter(path) : undefined;
  if (interpreter !== undefined) facts.interpreter = interpreter;
  return facts;
}

/**
 * stat(2), following symlinks as the kernel does when it opens or executes the path. The
 * inode key is the kernel's own when `kernelInode` knows it (see src/kernel/probe.ts): stat's
 * st_dev differs from the kernel's s_dev on btrfs subvolumes and some stacked filesystems.
 */
export function hostFacts(path: string, role: PathRole, kernelInode?: (path: string) => { dev: number; ino: bigint } | null): PathFacts | null {
  try {
    const s = statSync(path, { bigint: true });
    const type = s.isFile() ? "file" : s.isDirectory() ? "directory" : "other";
    const kernel = type === "other" ? null : kernelInode?.(path);
    const facts: PathFacts = kernel ? { ...kernel, type } : { dev: kernelDev(s.dev), ino: s.ino, type };
    // Only an executable's first line matters; a protected file is not read.
    const interpreter = type === "file" && role === "executable" ? scriptInterpreter(path) : undefined;
    if (interpreter !== undefined) facts.interpreter = interpreter;
    return facts;
  } catch {
    return null;
  }
}

export function problemsAsDiagnostics(problems: CompileProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    file: p.origin.file,
    line: p.origin.line,
    col: p.origin.col,
    severity: "error",
    message: p.message,
    hint: p.hint,
    path: [],
  }));
}

startupCode(compileInputOf, probedFacts, fileSpecsOf, addressesOf, GrantSpec);
