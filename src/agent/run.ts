// The agent: from a policy file to enforcement, then the loop that reports what the kernel decides
// until the agent is stopped.
//
// Start:
//   1. the policy is checked and compiled (prepare.ts); the host is checked (doctor);
//   2. one agent at a time (AgentState.lock);
//   3. a kernel side may be installed already, pinned by an earlier run whose process is gone: it is
//      adopted only for the same policy (the bytes it was applied from), and replaced without a gap;
//   4. the policy is applied as a new generation, this run's programs are attached and pinned, and
//      only then are earlier runs' programs released.
// Then serve.ts runs the agent until a signed shutdown.
import { existsSync, mkdirSync, readFileSync, realpathSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import type { ProbedPath } from "../../ffi/shim.ts";
import { kernelDev } from "../abi.ts";
import { hostsOf, type AgentPaths } from "../compile/from-policy.ts";
import { formatDiagnostics, formatVerdict, type Policy } from "../policy/index.ts";
import { CliError, EXIT } from "../exit.ts";
import { apply, SETTLE_ROUNDS, unsettledList } from "../kernel/apply.ts";
import { canEnforce, formatChecks, runChecks } from "../kernel/doctor.ts";
import { Kernel, LoadError, PIN_ROOT, type AgentIdentity } from "../kernel/kernel.ts";
import { guardProbe, kernelInodes } from "../kernel/probe.ts";
import { verifierSelfTest } from "../control/index.ts";
import { HostAddresses } from "./dns.ts";
import { Phases } from "./phases.ts";
import { checkText, compileForHost, describeExecutables, sha256 } from "./prepare.ts";
import { protectionFlags, serve, type Output, type Running } from "./serve.ts";
import { streamSink } from "./sink.ts";
import { AgentState, RUN_DIR } from "./state.ts";
import { headroom } from "./headroom.ts";


/** file: the policy as given; bytes: its content, read within the size limit (src/policy/read.ts). */
export async function runAgent(file: string, bytes: Uint8Array): Promise<number> {
  // Before anything is parsed: the start itself allocates what a reload does (src/agent/headroom.ts).
  headroom.want(bytes.length);
  headroom.settle();
  const status = streamSink(process.stderr, () => {}).write;
  const events = streamSink(process.stdout, (why) =>
    status(`bomfather: warning: cannot write events to stdout (${why}); enforcement continues, events are no longer printed\n`),
  ).write;
  const out: Output = { status, events };
  const started = await start(file, bytes, out);
  if (typeof started === "number") return started;
  const { kernel, state } = started;
  const why = await serve(started);

  const c = kernel.counters();
  if (why === "leave") {
    kernel.close();
    state.release();
    return EXIT.OK;
  }
  // Each program detached costs the kernel an RCU-tasks grace period (ftrace's, on 6.12): from
  // a fraction of a second to several under load, one after the other.
  kernel.endEnforcement(); // done already for a signed shutdown, before its reply
  status(`bomfather: enforcement ended; detaching ${kernel.programs.length} programs (the kernel waits for a grace period after each)\n`);
  kernel.uninstall();
  state.forget();
  state.release();
  status(
    `bomfather: stopped (${why === "shutdown" ? "signed shutdown" : "signal, self-protection in monitor mode"}): ` +
      `${c.denied} denied, ${c.monitored} monitored, ${c.eventsLost} event(s) lost, ` +
      `${c.inheritanceFailures} inheritance failure(s), ${c.protectionNotCarried} protection(s) not carried\n`,
  );
  return EXIT.OK;
}

/**
 * Steps 1 to 4 of a start: check, name, compile, apply and attach. Returns what serve needs (or
 * the exit code of a start refused), and nothing of the start's working data: the text, the
 * compiled plan and its tens of thousands of entries, the names of every path. While runAgent
 * held them, they stayed in memory for the agent's life, and every full collection of garbage
 * marked them again (measured in the bench's VM, 10,000 file rules and 10,000 addresses: 750,000
 * live objects after the start, a full collection about 1 s of counted time). Nothing that lives
 * on (the closures given to serve and to guardProbe) is made in this function's scope, which would
 * keep them all.
 */
async function start(file: string, bytes: Uint8Array, out: Output): Promise<Running | number> {
  const { status } = out;
  // 1. The policy and the host. First the verifier of signed requests, before the kernel is touched
  // (a step of the start's account: about 0.2 s of a start in the bench's VM, tweetnacl's code cold).
  const phases = new Phases();
  verifierSelfTest();
  phases.mark("verifier");
  const text = checkText(bytes, file);
  phases.mark("check");
  if (!text.ok) {
    if (text.diagnostics.length) status(formatDiagnostics(text.diagnostics, text.text));
    status(`bomfather: not starting: ${formatVerdict(file, text.diagnostics)}`);
    return EXIT.INVALID_POLICY;
  }
  const checks = await runChecks({ agentLoad: false });
  phases.mark("host");
  if (!canEnforce(checks)) {
    status(formatChecks(checks.filter((c) => c.status !== "ok")) + "\n");
    return EXIT.CANNOT_ENFORCE;
  }

  // 2. One agent at a time.
  const state = AgentState.lock();
  if (!state) {
    const running = AgentState.peek();
    throw new CliError(
      `Another bomfather agent is running on this host${running ? ` (pid ${running.pid}, enforcing "${running.policyFile}" since ${running.appliedAt})` : ""}`,
      EXIT.AGENT_RUNNING,
      "there is one agent per host; to change its policy, reload it (bomfather reload)",
    );
  }

  // 3. What the kernel enforces already, if anything.
  const pinned = Kernel.pinned();
  const inForce = pinned ? state.inForce() : null;
  const policySha256 = sha256(bytes);
  if (pinned && inForce && inForce.policySha256 !== policySha256) {
    state.release();
    throw new CliError(
      `The kernel still enforces "${inForce.policyFile}" (generation ${inForce.generation}, sha256 ${inForce.policySha256.slice(0, 16)}...), ` +
        `left by an agent that is no longer running, and "${file}" is a different policy`,
      EXIT.AGENT_RUNNING,
      `start the agent with the policy in force ("${inForce.policyFile}"), then change it with a signed reload (bomfather reload)`,
    );
  }

  // The policy, with the agent's own files and directories guarded.
  mkdirSync(PIN_ROOT, { recursive: true, mode: 0o700 });
  const paths: AgentPaths = { exe: realpathSync("/proc/self/exe"), policyFile: realpathSync(file), pins: PIN_ROOT, state: RUN_DIR };
  const preloadList = join(PRELOAD_DIR, "ld.so.preload");
  if (existsSync(preloadList)) {
    paths.preloadList = preloadList;
    if (statSync(preloadList).size > 0) {
      status(`bomfather: warning: ${preloadList} is not empty: the loader loads what it lists into every program, trusted ones included (secure mode does not stop it); it is now guarded as it is\n`);
    }
  }
  // The agent's own binary and systemd-shutdown are named in the same pass, for its identity.
  const shutdown = SYSTEMD_SHUTDOWN.find((p) => existsSync(p));
  // Host names are resolved before the policy is compiled: their addresses are part of it.
  const hosts = new HostAddresses(hostsOf(text.policy));
  if (hosts.names.length) {
    const resolved = await hosts.refresh(true);
    for (const problem of resolved.problems) status(`bomfather: warning: ${problem}\n`);
    phases.mark("resolve");
  }
  const host = await compileForHost(text.policy, paths, phases, [paths.exe, PRELOAD_DIR, ...(shutdown ? [shutdown] : [])], hosts.addresses());
  if (!host.ok) {
    state.release();
    status(formatDiagnostics(host.diagnostics, text.text));
    status(`bomfather: not starting: ${formatVerdict(file, host.diagnostics)}`);
    return host.kernel ? EXIT.CANNOT_ENFORCE : EXIT.INVALID_POLICY;
  }
  const prepared = { compiled: host.compiled, sha256: policySha256 };
  for (const warning of host.compiled.warnings ?? []) status(`bomfather: warning: ${warning}\n`);
  const identity = agentIdentity(paths, text.policy, shutdown, host.named);

  // 4. Apply, attach, release.
  let kernel: Kernel;
  try {
    kernel = await Kernel.open();
    phases.mark("load");
  } catch (e) {
    host.since?.close();
    state.release();
    if (e instanceof LoadError) throw loadFailure(e);
    throw e;
  }
  const runId = randomBytes(8).toString("hex");
  const { compiled } = prepared;
  let generation: number;
  let firstGeneration: number;
  try {
    if (pinned && !inForce && kernel.generation() !== 0) {
      throw new CliError(
        `The kernel enforces policy generation ${kernel.generation()} from pins in ${PIN_ROOT}, but ${RUN_DIR}/state.json does not say which policy it is`,
        EXIT.AGENT_RUNNING,
        "bomfather will not replace a policy it cannot identify; reboot to clear the pins",
      );
    }
    kernel.registerSelf(); // before anything else: the maps of a first install are the agent's alone from now on
    await guardProbe(registrar(kernel)); // kept for reloads: what it reports is the agent's alone too
    kernel.configure(identity);
    kernel.agentCgroups(agentCgroups());
    const applied = await apply(
      kernel,
      compiled,
      Math.max(...kernel.slots().generations) + 1,
      kernelInodes,
      () => {
        phases.mark("apply");
        kernel.attach(runId);
        // What appeared below the protected directories before the programs were attached was not
        // labelled: the programs look under parents until the agent has walked the trees again (serve).
        if (compiled.trees) kernel.unsettleTrees();
        phases.mark("attach");
      },
      host.since,
    );
    phases.mark("verify");
    generation = applied.generation;
    firstGeneration = applied.from;
    if (applied.unsettled.length) {
      throw new CliError(
        `Cannot protect ${unsettledList(applied.unsettled)}: the file at the path was replaced again each time the agent protected the one it found (${SETTLE_ROUNDS} times while it started)`,
        EXIT.CANNOT_ENFORCE,
        "another process keeps renaming files over it: stop it, then start the agent again",
      );
    }
    for (const path of applied.reconciled) status(`bomfather: "${path}" was replaced while the policy was applied; the file now at that path is protected\n`);
    status(describeExecutables(compiled, kernel.digestsAtExec));
    kernel.registerSelf();
    const released = kernel.releaseOthers(runId);
    protectFromOomKiller(status);
    if (pinned) status(`bomfather: adopted the kernel side left by an earlier run (released ${released.filter((r) => r.startsWith("link-")).length} program(s) of earlier runs)\n`);
  } catch (e) {
    if (pinned) kernel.close(); // the earlier run's programs and pins go on enforcing
    else kernel.uninstall(); // nothing half-installed stays behind
    state.release();
    if (e instanceof LoadError) throw loadFailure(e);
    throw e;
  } finally {
    host.since?.close();
  }
  const baseline = kernel.counters();
  state.recordInForce(
    { policyFile: file, policySha256: prepared.sha256, generation, runId, pid: process.pid, appliedAt: new Date().toISOString() },
    compiled.rules,
  );
  return {
    kernel,
    state,
    out,
    paths,
    policyFile: file,
    runId,
    identity,
    policy: text.policy,
    hosts,
    generation,
    firstGeneration,
    rules: compiled.rules,
    network: compiled.network,
    baseline,
    // Said once the control socket listens: from then on a signed shutdown can reach the agent.
    onReady: enforcing(status, `${file}: ${compiled.rules.length} rule(s), ${compiled.entries.length} kernel map entries, policy generation ${generation}`, phases),
  };
}

/** The closures that outlive start, made here so that they hold only what they name. */
function registrar(kernel: Kernel): (ids: [number, number][]) => void {
  return (ids) => kernel.registerObjects(ids);
}

function enforcing(status: (text: string) => void, what: string, phases: Phases): () => void {
  return () => status(`bomfather: enforcing ${what}, in ${phases}\n`);
}

/** Who the agent is, as self-protection knows it: its binary's inode and where its pins and state live. */
function agentIdentity(paths: AgentPaths, policy: Policy, shutdown: string | undefined, named: Map<string, ProbedPath>): AgentIdentity {
  const exe = named.get(paths.exe)?.key;
  if (!exe) throw new Error(`Bug: cannot name the agent's own binary "${paths.exe}" as the kernel does`);
  return {
    exe,
    shutdown: (shutdown && named.get(shutdown)?.key) || null,
    preloadDir: named.get(PRELOAD_DIR)?.kind === "directory" ? named.get(PRELOAD_DIR)!.key : null,
    pinsDev: kernelDev(statSync(paths.pins).dev),
    stateDev: kernelDev(statSync(paths.state).dev),
    ...protectionFlags(policy),
  };
}

/** Where glibc's loader reads its preload list (ld.so.preload), which it honours for every program, in secure mode too. */
const PRELOAD_DIR = "/etc";

/** Where distributions put systemd-shutdown, the program PID 1 becomes for the last stage of a shutdown. */
const SYSTEMD_SHUTDOWN = ["/usr/lib/systemd/systemd-shutdown", "/lib/systemd/systemd-shutdown"];

/**
 * The ids of the cgroup v2 holding this process and of its ancestors (a cgroup v2 directory's
 * inode number is the cgroup's id). Empty without cgroup v2 at /sys/fs/cgroup.
 */
function agentCgroups(): bigint[] {
  const line = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => l.startsWith("0::"));
  if (!line) return [];
  const ids: bigint[] = [];
  let dir = join(CGROUP_ROOT, line.slice(3));
  for (;;) {
    try {
      if (statfsSync(dir).type !== CGROUP2_SUPER_MAGIC) break;
      ids.push(statSync(dir, { bigint: true }).ino);
    } catch {
      break;
    }
    if (dir === CGROUP_ROOT || dir === "/") break;
    dir = dirname(dir);
  }
  return ids;
}

const CGROUP_ROOT = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The OOM killer passes over a process whose oom_score_adj is -1000 (writing it is then refused to others). */
function protectFromOomKiller(status: (text: string) => void): void {
  try {
    writeFileSync("/proc/self/oom_score_adj", "-1000\n");
  } catch (e) {
    status(`bomfather: warning: cannot set oom_score_adj to -1000 (${(e as Error).message}): the OOM killer may choose the agent; enforcement would continue from the pins\n`);
  }
}

function loadFailure(e: LoadError): CliError {
  return new CliError(`Cannot load the policy into the kernel: ${e.message}`, EXIT.CANNOT_ENFORCE, e.log.trim().split("\n").slice(-20).join("\n") || "run bomfather doctor");
}
