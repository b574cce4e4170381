// From the bytes of a policy file to what the kernel should hold, without touching the kernel: the
// text is checked, what this version cannot enforce is refused, and the policy is compiled against
// this host's files as the kernel names them. Shared by the start of the agent and by a reload.
import { createHash } from "node:crypto";
import { MAP_LIMITS, NetFlag, NetPolicy } from "../abi.ts";
import { compile, type CompileInput, type Compiled, type Measured, type RuleInfo } from "../compile/compile.ts";
import { RuleIds, ruleWithId } from "../compile/ids.ts";
import type { NetworkMemo } from "../compile/net-memo.ts";
import { nameEntries, soundWalk, statNamesAlike, walkTree, type TreeWalk } from "../compile/tree.ts";
import { agentSpecOf, compileInputOf, pathsOf, probedFacts, problemsAsDiagnostics, type AgentPaths } from "../compile/from-policy.ts";
import type { ProbedPath } from "../../ffi/shim.ts";
import { loadShim } from "../kernel/assets.ts";
import { kernelInodes, probePaths } from "../kernel/probe.ts";
import { measureDigest } from "../kernel/verity.ts";
import { Watch, type Since } from "../kernel/watch.ts";
import { checkPolicy, type Diagnostic, type Policy } from "../policy/index.ts";
import { firstOf } from "../policy/diagnostic.ts";
import type { Cidr } from "../policy/net.ts";
import type { Phases } from "./phases.ts";

export function sha256(bytes: string | Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The text alone: every problem at once, what this version cannot enforce included (checkPolicy
 * refuses it, as `check` does). before: the policy in force, at a reload (what the edit left alone
 * is not read again: src/policy/splice.ts). Warnings stay in `diagnostics`. The host is not looked at here:
 * compileForHost names every path as the kernel does and refuses what is missing, so a second look
 * at thousands of paths would only cost time.
 */
export function checkText(
  bytes: string | Uint8Array,
  file: string,
  before?: Policy,
): { ok: true; policy: Policy; diagnostics: Diagnostic[]; text: string } | { ok: false; stage: "text"; diagnostics: Diagnostic[]; text: string } {
  const { policy, diagnostics, text } = checkPolicy(bytes, file, { host: null, before });
  if (!policy) return { ok: false, stage: "text", diagnostics, text: text ?? "" };
  return { ok: true, policy, diagnostics, text: text ?? "" };
}

/**
 * This host's files, named as the kernel names them (the probe program runs: the host must enforce),
 * with the agent's own files and directories guarded. Paths in alsoName are named in the same
 * pass (one load of the probe program), for the caller: every name is in `named`. `since` tells
 * apply which paths still name the files named here (src/kernel/watch.ts); the caller closes it
 * once the generation is in force: a watch kept open would put every open and close in the watched
 * directories on the kernel's slower notification path (measured: open+close 2.5% slower).
 * inForce: what the generation in force was compiled to (a reload): a rule it has too keeps its id
 * (src/compile/ids.ts), and its network section is taken again if nothing it depends on changed
 * (src/compile/net-memo.ts).
 */
export async function compileForHost(
  policy: Policy,
  agent: AgentPaths,
  phases?: Phases,
  alsoName: string[] = [],
  resolved?: ReadonlyMap<string, readonly Cidr[]>,
  inForce?: { rules: readonly RuleInfo[]; network?: NetworkMemo },
): Promise<{ ok: true; compiled: Compiled; named: Map<string, ProbedPath>; since?: Since } | { ok: false; diagnostics: Diagnostic[]; kernel: boolean }> {
  const input = { ...compileInputOf(policy), agent: agentSpecOf(policy, agent), ids: new RuleIds(inForce?.rules), networkBefore: inForce?.network };
  if (input.network && resolved) input.network.resolved = resolved;
  const paths = pathsOf(input, alsoName);
  // Their directories watched first: a file replaced from now on is a change the watch sees.
  const watch = await Watch.start(paths);
  try {
    const host = await nameAndCompile(input, paths, phases);
    if (host.ok && watch) return { ...host, since: watch.since(host.named) };
    watch?.close();
    return host;
  } catch (e) {
    watch?.close();
    throw e;
  }
}

async function nameAndCompile(
  input: CompileInput,
  paths: string[],
  phases: Phases | undefined,
): Promise<{ ok: true; compiled: Compiled; named: Map<string, ProbedPath> } | { ok: false; diagnostics: Diagnostic[]; kernel: boolean }> {
  // Named by stat where a path's directory shows that stat names inodes as the kernel does, as
  // below protected directories; opened elsewhere.
  const named = await probePaths(paths, true);
  phases?.mark("name files");
  // Digests are measured on the inode just named (only for executables that pin one).
  const shim = input.executables.some((e) => e.digest) ? await loadShim() : null;
  const measured = (path: string): Measured => {
    const key = named.get(path)?.key;
    return shim && key ? measureDigest(shim, path, key.ino) : { kind: "replaced" };
  };
  // What is below each protected directory, named as the kernel names it (one probe for them all).
  // stat names them as the kernel does where the tree's own directory shows it; elsewhere (btrfs
  // subvolumes, overlayfs, file systems mounted inside) each is named by opening it.
  const walks = new Map<string, TreeWalk>();
  for (const f of input.files) {
    if (named.get(f.path)?.kind !== "directory") continue;
    const walk = walkTree(f.path, MAP_LIMITS.files);
    if (walk.ok) walk.statDev = statNamesAlike(walk, named.get(f.path)?.key);
    walks.set(f.path, walk);
  }
  const entries = [...walks.values()].flatMap((w) => (w.ok ? w.entries : []));
  if (entries.length) {
    // stat names an entry where its tree's own directory shows that stat names inodes as the kernel does.
    const byStat = new Set([...walks.values()].flatMap((w) => (w.ok ? w.entries.filter((e) => e.stDev === w.statDev) : [])));
    await nameEntries(entries, kernelInodes, (e) => byStat.has(e));
    for (const [root, walk] of walks) walks.set(root, soundWalk(walk));
    phases?.mark("walk directories");
  }
  const trees = (root: string): TreeWalk => walks.get(root) ?? { ok: false, why: "it was not walked (a bug: please report it)" };
  const compiled = compile(input, (path, role) => probedFacts(path, role, named.get(path)), measured, trees);
  phases?.mark("compile");
  if (compiled.ok) return { ok: true, compiled: compiled.compiled, named };
  return { ok: false, diagnostics: problemsAsDiagnostics(compiled.problems), kernel: compiled.problems.some((p) => p.kernel) };
}

/**
 * What start and reload say about the named executables: which files were made immutable, which a
 * policy rule lets some program update, and how their digests are checked. Empty when none is named.
 */
export function describeExecutables(compiled: Compiled, digestsAtExec: boolean): string {
  const exes = compiled.rules.filter((r) => r.kind === "executable");
  if (!exes.length && !compiled.rules.some((r) => r.kind === "runtime")) return describeTrees(compiled) + describeNetwork(compiled);
  const list = (paths: string[]) => firstOf(paths, 10);
  const immutable = exes.filter((r) => r.coveredBy === undefined).map((r) => r.path);
  const updatable = exes.filter((r) => r.coveredBy !== undefined).map((r) => `${r.path} (by what line ${ruleWithId(compiled.rules, r.coveredBy!)!.origin.line} grants write)`);
  let out = "";
  const monitored = exes.filter((r) => r.mode === "monitor").map((r) => r.path);
  if (monitored.length) out += `bomfather: monitor mode: what follows is reported, not refused, for ${list(monitored)}\n`;
  if (immutable.length) out += `bomfather: named executables made immutable (nobody may write, truncate, rename, replace, remove or re-attribute them): ${list(immutable)}\n`;
  if (updatable.length) out += `bomfather: named executables updatable only as a file rule allows: ${list(updatable)}\n`;
  const runtime = exes.filter((r) => r.runtime).map((r) => r.path);
  if (runtime.length) {
    out += `bomfather: programs that hold a grant start in secure-execution mode (loader variables such as LD_PRELOAD ignored), not traced, and nobody attaches to them or touches their memory: ${list(runtime)}\n`;
  }
  const untraceable = exes.filter((r) => r.untraceable && !r.runtime).map((r) => r.path);
  if (untraceable.length) out += `bomfather: runtime.ptrace: nobody attaches to or touches the memory of: ${list(untraceable)}\n`;
  if (compiled.rules.some((r) => r.kind === "runtime" && r.path === "runtime.fileless")) {
    out += "bomfather: runtime.fileless: programs with no file name (memfd, O_TMPFILE, deleted) are refused\n";
  }
  const pinned = exes.length && compiled.entries.some((e) => e.map === "exes" && e.note.includes("fs-verity"));
  if (pinned) {
    out += digestsAtExec
      ? "bomfather: fs-verity digests: measured now, and checked by the kernel at every exec\n"
      : "bomfather: fs-verity digests: measured now on each file (this kernel cannot check them at exec: Linux 6.8+ can); fs-verity files cannot change\n";
  }
  return describeTrees(compiled) + out + describeNetwork(compiled);
}

/** What start and reload say about the network section: empty without one. */
/** The protected directories and how much each covers. */
function describeTrees(compiled: Compiled): string {
  if (!compiled.trees?.length) return "";
  const order = new Map(compiled.rules.map((r, i) => [r, i]));
  const trees = [...compiled.trees].sort((a, b) => order.get(a.rule)! - order.get(b.rule)!); // the policy's order
  const shown = firstOf(trees.map((t) => `${t.rule.path} (${t.labelled} below it)`), 10);
  return `bomfather: protected directories (everything below them, and what is created, linked or moved in later): ${shown}\n`;
}

function describeNetwork(compiled: Compiled): string {
  if (!compiled.net) return "";
  const deny = NetPolicy.decode(compiled.net).flags & NetFlag.DENY;
  const destinations = compiled.rules.filter((r) => r.kind === "destination").length;
  const prefixes = compiled.entries.filter((e) => e.map === "dests").length;
  const confined = compiled.entries.filter((e) => e.map === "confined").length;
  return (
    `bomfather: network: ${destinations} destination(s) over ${prefixes} address prefix(es), ${confined} confined executable(s), default ${deny ? "deny" : "allow"}; ` +
    `connect, sendto/sendmsg/sendmmsg, TCP Fast Open and io_uring are decided, IPv4 and IPv6; raw, packet and other sockets the rules cannot see are refused to ` +
    `${deny ? "every process" : "confined programs"}\n`
  );
}
