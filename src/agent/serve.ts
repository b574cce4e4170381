// The running agent: one timer drives everything on the JavaScript thread, nothing blocks it.
// - the kernel's events are drained (without waiting) and printed as JSON lines;
// - new kernel-side failures are reported once a second;
// - the control socket is polled, and a thread wakes the loop when a connection waits (ffi/shim.c
//   waker): a signed shutdown stops the agent, a signed reload applies a new
//   policy as the next generation (src/control is the protocol; this module says what a request does);
// - the policy's host names are asked again before their addresses expire (dns.ts): when the
//   addresses change, the same policy is applied again as the next generation.
// Reloads and address changes are applied one at a time.
// It returns when a signed shutdown is accepted ("shutdown": the caller removes the kernel side), or
// when SIGTERM or SIGINT reaches the agent: with self-protection in monitor mode that stops it too
// ("signal"); enforcing, only the kernel can have sent it (the last stage of a system shutdown, a
// terminal's Ctrl-C), and the process exits leaving its pinned programs to enforce ("leave").
import { renameSync, writeFileSync, fsyncSync, openSync, closeSync } from "node:fs";
import { formatDiagnostics, type Diagnostic, type Policy } from "../policy/index.ts";
import { Challenges, ControlServer, agentIdentity as controlIdentity, controlEventLine, policyKeys, type ControlHandler, type HandlerResult } from "../control/index.ts";
import { decodeEvent, type EventRule } from "../events.ts";
import { apply, SETTLE_ROUNDS, unsettledList, type Applied } from "../kernel/apply.ts";
import type { AgentIdentity, Counters, Kernel } from "../kernel/kernel.ts";
import { loadShim } from "../kernel/assets.ts";
import { kernelInodes } from "../kernel/probe.ts";
import type { Since } from "../kernel/watch.ts";
import type { RuleInfo } from "../compile/compile.ts";
import { ruleWithId } from "../compile/ids.ts";
import { hostsOf, type AgentPaths } from "../compile/from-policy.ts";
import type { Compiled } from "../compile/compile.ts";
import type { NetworkMemo } from "../compile/net-memo.ts";
import { HostAddresses } from "./dns.ts";
import { Phases } from "./phases.ts";
import { headroom } from "./headroom.ts";
import { checkText, compileForHost, describeExecutables } from "./prepare.ts";
import { fileSink, streamSink, type Sink } from "./sink.ts";
import type { AgentState, RuleRecord } from "./state.ts";

/**
 * How often the loop looks at the ring buffer and the control socket: soon again while there is
 * work (events, a request in progress), rarely when idle. An idle agent must cost the host next to
 * nothing: on one CPU, a 50 ms poll cost the bench's open+close and fork+exec several percent.
 */
const BUSY_POLL_MS = 10;
const IDLE_POLL_MS = 250;
/**
 * After a request, the loop stays busy this long: a signed request is two connections (the
 * challenge, then the response a moment later), and the second need not wait for an idle tick.
 */
const REQUEST_LINGER_MS = 2000;

export interface Output {
  /** Status messages (stderr). */
  status: (text: string) => void;
  /** Event lines, when the policy names no other output (stdout). */
  events: (text: string) => void;
}

/** What the policy's agent section asks of the kernel side beyond the rules. */
export function protectionFlags(policy: Policy): { monitor: boolean; reportAllow: boolean } {
  return {
    monitor: (policy.agent?.protection?.mode ?? policy.mode ?? "enforce") === "monitor",
    reportAllow: ((policy.agent?.events?.include ?? DEFAULT_INCLUDE) as readonly string[]).includes("allow"),
  };
}

const DEFAULT_INCLUDE: readonly string[] = ["deny", "monitor"];

/** Where a policy's events go (agent.events.output), and which (agent.events.include). */
function eventsOf(policy: Policy, out: Output): { sink: Sink; include: Set<string> } {
  const output = policy.agent?.events?.output ?? "stdout";
  const sink =
    output === "stdout"
      ? { write: out.events, check() {}, close() {} }
      : output === "stderr"
        ? streamSink(process.stderr, () => {})
        : fileSink(output, (why) => out.status(`bomfather: warning: ${why}\n`));
  return { sink, include: new Set(policy.agent?.events?.include ?? DEFAULT_INCLUDE) };
}

/** What the agent enforces and how to reach what it needs. */
export interface Running {
  kernel: Kernel;
  state: AgentState;
  out: Output;
  paths: AgentPaths;
  /** The policy file as the operator named it (events and state name it so). */
  policyFile: string;
  runId: string;
  identity: AgentIdentity;
  policy: Policy;
  /** The addresses of the policy's host names. */
  hosts: HostAddresses;
  generation: number;
  /** The first generation of these rules (apply may have put the policy in force more than once). */
  firstGeneration?: number;
  rules: readonly RuleInfo[];
  /** What its network section compiled to: a reload that leaves the section as it is takes it again. */
  network?: NetworkMemo;
  /** Set by serve: what a reload changes beyond the kernel (where events go). */
  onReload?: (policy: Policy) => void;
  /** Called once the agent listens and counts: what it says to its operator that it enforces. */
  onReady: () => void;
  /** The kernel's counters when the policy was applied: warnings count from there. */
  baseline: Counters;
}

const WARNINGS: Partial<Record<keyof Counters, string>> = {
  eventsLost: "event(s) lost (ring buffer full); enforcement is unaffected",
  inheritanceFailures: "process(es) could not inherit a grant (out of memory); they were denied instead",
  protectionNotCarried: "file(s) renamed over a protected file could not be protected (too many protected files)",
  noPolicy: "decision(s) found no policy generation in force (a bug: please report it)",
};

export type Stopped = "shutdown" | "signal" | "leave";

export async function serve(r: Running): Promise<Stopped> {
  const { kernel, state, out } = r;
  const known = new Map<number, readonly RuleInfo[]>();
  for (let g = r.firstGeneration ?? r.generation; g <= r.generation; g++) known.set(g, r.rules);
  const cache = new Map<number, RuleRecord[] | null>();
  const rules = (generation: number, id: number): EventRule | undefined => {
    const mine = ruleWithId(known.get(generation), id);
    if (mine) return { path: mine.path, file: mine.origin.file, line: mine.origin.line, builtin: mine.builtin };
    if (!cache.has(generation)) {
      if (cache.size >= 4) cache.clear(); // each a whole rule table; read again if need be
      cache.set(generation, state.rules(generation));
    }
    return cache.get(generation)?.find((x) => x.id === id);
  };

  let stop: (why: Stopped) => void = () => {};
  const stopped = new Promise<Stopped>((resolve) => (stop = resolve));

  const challenges = new Challenges({ identity: controlIdentity(), keys: policyKeys(r.policy) });
  const handler: ControlHandler = {
    // Enforcement ends before the reply: once the requester hears back, nothing is enforced.
    // Detaching the programs (uninstall) follows, and takes the kernel a while.
    // After a reload or an address change in progress, never during one; nothing is applied after it.
    shutdown: (key) =>
      serial(async () => {
        ending = true;
        kernel.endEnforcement();
        return {
          ok: true,
          message: `enforcement ended; the agent detaches its programs and exits (key "${key.name}")`,
          after: () => stop("shutdown"),
        };
      }),
    reload: (bytes, key, _peer, name, policySha256) =>
      serial(async () => {
        if (ending) return { ok: false, reason: "apply-failed", message: "The agent is stopping: a signed shutdown came first" };
        const result = await reload(r, { bytes, name, sha256: policySha256 }, known, challenges, key.name, (write) => (unrecorded = write));
        scheduleHosts();
        collect = true;
        return result;
      }),
  };

  // One change of the kernel's policy at a time: a reload, new addresses for the host names, the end.
  let busy: Promise<unknown> = Promise.resolve();
  let ending = false;
  /**
   * Garbage is collected in full at the first idle tick after a policy was checked, compiled and
   * applied (the start, a reload, a new generation): what that left (the text's parse, the plan)
   * is gone before the next change rather than collected during it, by a collector that shares
   * the CPU with it. Measured in the bench's VM (10,000 file rules and 10,000 addresses, 6.1,
   * counted time): a signed reload, its code warm, 1.90 s without, 1.68 s with; the collection
   * itself about 0.5 s while idle (0.9 s after the start). The loop waits for it (events and
   * requests a moment later): once per change of policy. The room for the next change
   * (src/agent/headroom.ts) is made just before, so that this collection counts it.
   */
  let collect = true;
  /**
   * The rule table of the generation a reload applied, written at that same idle tick (or before
   * the next change, or at the end) rather than before the reply: a table of tens of thousands of
   * rules takes about 0.08 s of a reload in the bench's VM. Until then `known` names its events.
   */
  let unrecorded: (() => void) | null = null;
  const record = () => {
    const write = unrecorded;
    unrecorded = null;
    try {
      write?.();
    } catch (e) {
      out.status(`bomfather: warning: a rule table could not be written to ${state.dir} (${(e as Error).message}): a later run names that generation's events "unknown rule"\n`);
    }
  };
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = busy.then(record).then(work, work);
    busy = next.catch(() => {});
    return next;
  };
  let hostsTimer: ReturnType<typeof setTimeout> | undefined;
  const scheduleHosts = () => {
    clearTimeout(hostsTimer);
    const ms = r.hosts.nextDueMs();
    if (ms === Infinity) return;
    hostsTimer = setTimeout(() => {
      serial(async () => {
        if (ending) return;
        const refreshed = await r.hosts.refresh();
        // Said when a name starts failing and when it resolves again, not at every attempt.
        for (const name of refreshed.recovered) out.status(`bomfather: "${name}" resolves now\n`);
        for (const p of refreshed.problems) out.status(`bomfather: warning: ${p}\n`);
        if (refreshed.changed && !ending) {
          await reapply(r, known, "addresses");
          collect = true;
        }
      })
        .catch((e) => out.status(`bomfather: warning: the host names' new addresses could not be applied (${(e as Error).message}); the policy in force stays, asking again\n`))
        .finally(() => ending || scheduleHosts());
    }, Math.max(ms, 100));
  };
  scheduleHosts();

  // Changes below the protected directories the kernel could not label entry by entry (a
  // directory moved in, a file system mounted, the moments before the programs were attached):
  // the trees are walked again into a new generation, which settles them (src/kernel/apply.ts).
  let walking = false;
  const checkTrees = () => {
    if (walking || ending) return;
    const t = kernel.trees();
    if (t.moved === t.settled) return;
    walking = true;
    serial(async () => {
      if (ending) return;
      const unsettled = kernel.trees();
      if (unsettled.moved === unsettled.settled) return; // a reload walked them meanwhile
      await reapply(r, known, "directories");
      collect = true;
    })
      .catch((e) => out.status(`bomfather: warning: the protected directories could not be walked again (${(e as Error).message}); files below them are looked for under their parents meanwhile, trying again
`))
      .finally(() => (walking = false));
  };
  checkTrees();
  const server = ControlServer.listen({
    path: `${r.paths.state}/control.sock`,
    challenges,
    handler,
    onRequest: (ev) => events.sink.write(JSON.stringify(controlEventLine(ev)) + "\n"),
  });

  // With self-protection enforcing, no other process can send these: they come from the kernel
  // (a terminal, the end of a system shutdown), and never switch protection off.
  const signal = (name: string) => {
    if (r.identity.monitor) return stop("signal");
    out.status(`bomfather: ${name}: the agent exits; its pinned programs go on enforcing (start it again to adopt them; only bomfather shutdown --sign KEY stops enforcing)\n`);
    stop("leave");
  };
  for (const name of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGTSTP", "SIGTTIN", "SIGTTOU"] as const) {
    process.on(name, () => (name === "SIGINT" || name === "SIGTERM" ? signal(name) : out.status(`bomfather: ${name} ignored: enforcement continues\n`)));
  }

  let events = eventsOf(r.policy, out);
  r.onReload = (policy) => {
    events.sink.close();
    events = eventsOf(policy, out);
  };
  let seen = r.baseline;
  let lastCheck = Date.now();
  let accepted = 0;
  let lingerUntil = 0;
  /** One pass; when the next comes: at once while a request is being received, soon while there is work, else after an idle while. */
  const tick = (): number => {
    let busy = false;
    for (let batch = 0; batch < 64; batch++) {
      const records = kernel.poll(0);
      if (!records.length) break;
      busy = true;
      const lines = [];
      for (const rec of records) {
        const ev = decodeEvent(rec, rules, kernel.wallOffsetNs);
        if (ev && events.include.has(ev.action)) lines.push(JSON.stringify(ev) + "\n");
      }
      if (lines.length) events.sink.write(lines.join(""));
    }
    if (Date.now() - lastCheck >= 1000) {
      lastCheck = Date.now();
      events.sink.check();
      const now = kernel.counters();
      for (const [key, text] of Object.entries(WARNINGS) as [keyof Counters, string][]) {
        if (now[key] > seen[key]) out.status(`bomfather: warning: ${now[key] - seen[key]} ${text}\n`);
      }
      seen = now;
      checkTrees();
    }
    server.poll();
    if (server.accepted !== accepted) {
      accepted = server.accepted;
      lingerUntil = Date.now() + REQUEST_LINGER_MS;
    }
    if (server.receiving) return 0;
    return busy || server.connections > 0 || Date.now() < lingerUntil ? BUSY_POLL_MS : IDLE_POLL_MS;
  };
  // Idle, the loop also wakes as soon as a connection waits: the first of a request's two need
  // not wait for the idle tick (up to IDLE_POLL_MS).
  let timer: ReturnType<typeof setTimeout> | undefined;
  let idle = false;
  let over = false;
  const waker = (await loadShim()).waker(server.listening, () => {
    if (!idle || over) return; // a call queued just before the waker stopped finds the loop over
    clearTimeout(timer);
    loop();
  });
  const loop = () => {
    const ms = tick();
    idle = ms === IDLE_POLL_MS;
    if (idle && collect) {
      collect = false;
      record();
      headroom.settle(); // the room for the policy now in force, counted by this collection
      Bun.gc(true);
    }
    if (idle) waker.arm();
    timer = setTimeout(loop, ms);
  };
  loop();
  r.onReady();
  const why = await stopped;
  over = true;
  waker.stop();
  clearTimeout(timer);
  clearTimeout(hostsTimer);
  tick(); // the last events, and the reply to the shutdown request
  record();
  server.close();
  events.sink.close();
  return why;
}

/**
 * A signed reload: the new policy is checked and compiled before anything changes; on any error
 * the requester gets the diagnostics and the running policy stays. Then it is applied as the next
 * generation (no moment without a policy), and it replaces the policy file, so that the next start
 * (after a reboot) enforces it too.
 */
async function reload(
  r: Running,
  { bytes, name, sha256: policySha256 }: { bytes: Uint8Array; name: string; sha256: string },
  known: Map<number, readonly RuleInfo[]>,
  challenges: Challenges,
  keyName: string,
  recordLater: (write: () => void) => void,
): Promise<HandlerResult> {
  // Checked once, under the policy file's own name (its rules are that file's lines once it
  // replaces it); the requester's diagnostics name the file they sent.
  const phases = new Phases();
  const text = checkText(bytes, r.policyFile, r.policy);
  phases.mark("check");
  const forRequester = (diagnostics: Diagnostic[]) => formatDiagnostics(diagnostics.map((d) => ({ ...d, file: name })), text.text);
  if (!text.ok) {
    return { ok: false, reason: "invalid-policy", message: "The new policy is not valid; the running policy stays", diagnostics: forRequester(text.diagnostics) };
  }
  const hosts = r.hosts.forNames(hostsOf(text.policy));
  const resolved = await hosts.refresh(true);
  const host = await compileForHost(text.policy, r.paths, phases, [], hosts.addresses(), r);
  if (!host.ok) {
    return { ok: false, reason: "invalid-policy", message: "The new policy cannot be enforced on this host; the running policy stays", diagnostics: forRequester(host.diagnostics) };
  }
  let applied: Applied;
  try {
    applied = await applyGeneration(r, host.compiled, known, host.since);
    phases.mark("apply");
  } catch (e) {
    return { ok: false, reason: "apply-failed", message: `The new policy could not be applied (${(e as Error).message}); the running policy stays` };
  } finally {
    host.since?.close();
  }
  r.identity = { ...r.identity, ...protectionFlags(text.policy) };
  r.kernel.configure(r.identity);
  r.onReload?.(text.policy);
  replaceFile(r.paths.policyFile, bytes);
  headroom.want(bytes.length);
  r.policy = text.policy;
  r.hosts = hosts;
  challenges.setKeys(policyKeys(text.policy));
  const { generation } = applied;
  r.state.recordInForce({ policyFile: r.policyFile, policySha256, generation, runId: r.runId, pid: process.pid, appliedAt: new Date().toISOString() });
  const { rules } = host.compiled;
  recordLater(() => r.state.recordRules(generation, r.policyFile, rules));
  phases.mark("record");
  for (const p of resolved.problems) r.out.status(`bomfather: warning: ${p}\n`);
  for (const w of host.compiled.warnings ?? []) r.out.status(`bomfather: warning: ${w}\n`);
  r.out.status(describeExecutables(host.compiled, r.kernel.digestsAtExec));
  const kept = applied.kept.length ? ` (${applied.kept.join(", ")} unchanged)` : "";
  r.out.status(`bomfather: reloaded ${r.policyFile} (key "${keyName}"): ${host.compiled.rules.length} rule(s), policy generation ${generation}${kept}, in ${phases}\n`);
  const unsettled = unsettledWarning(r, applied);
  return { ok: true, message: `enforcing the new policy as generation ${generation}${unsettled ? `, except: ${unsettled}` : ""}` };
}

/**
 * Applied.unsettled said on the agent's status, and returned for a reply; "" when every file is
 * protected. The generation stays in force: it protects everything else, and the policy before it
 * did not protect those files either (a protected file cannot be replaced by whom the policy does
 * not let write it).
 */
function unsettledWarning(r: Running, applied: Applied): string {
  if (!applied.unsettled.length) return "";
  const why =
    `${unsettledList(applied.unsettled)} not protected: the file at the path was replaced again each time the agent protected the one it found ` +
    `(${SETTLE_ROUNDS} times); another process keeps renaming files over it: stop it, then reload`;
  r.out.status(`bomfather: warning: ${why}\n`);
  return why;
}

/**
 * A compiled policy in force as the next generation; its rules named for events. Known in memory
 * from before it is in force (the loop decodes events while apply waits), for as long as a slot
 * of the kernel holds it; older generations' events are named from their rule tables on disk
 * (state.ts), so that the agent does not hold every policy it ever enforced.
 */
async function applyGeneration(r: Running, compiled: Compiled, known: Map<number, readonly RuleInfo[]>, since: Since | undefined): Promise<Applied> {
  const from = Math.max(...r.kernel.slots().generations) + 1;
  for (let g = from; g < from + SETTLE_ROUNDS; g++) known.set(g, compiled.rules);
  let applied: Applied;
  try {
    applied = await apply(r.kernel, compiled, from, kernelInodes, undefined, since);
  } finally {
    const held = r.kernel.slots().generations;
    for (const g of known.keys()) if (g < Math.min(...held) || g > Math.max(...held)) known.delete(g);
  }
  r.generation = applied.generation;
  r.rules = compiled.rules;
  r.network = compiled.network;
  return applied;
}

/**
 * The policy in force again as one new generation, for one of two reasons: its host names' new
 * addresses (with those not expired yet, dns.ts, so no address in use lapses on the way), or a new
 * walk of the protected directories.
 */
async function reapply(r: Running, known: Map<number, readonly RuleInfo[]>, reason: "addresses" | "directories"): Promise<void> {
  const phases = new Phases();
  const addresses = r.hosts.addresses();
  const host = await compileForHost(r.policy, r.paths, phases, [], addresses, r);
  if (!host.ok) throw new Error(host.diagnostics.map((d) => d.message).join("; "));
  let applied: Applied;
  try {
    applied = await applyGeneration(r, host.compiled, known, host.since);
  } finally {
    host.since?.close();
  }
  const { generation } = applied;
  phases.mark("apply");
  unsettledWarning(r, applied);
  const inForce = r.state.inForce();
  if (inForce) r.state.recordInForce({ ...inForce, generation, appliedAt: new Date().toISOString() }, host.compiled.rules);
  for (const w of host.compiled.warnings ?? []) r.out.status(`bomfather: warning: ${w}\n`);
  if (reason === "directories") {
    r.out.status(
      `bomfather: walked the protected directories again (the agent started, a directory was moved in or a file system mounted below one): policy generation ${generation}, in ${phases}\n`,
    );
    return;
  }
  const list = [...addresses].map(([name, a]) => `${name}: ${a.length ? a.map((c) => c.canonical.replace(/\/(32|128)$/, "")).join(", ") : "none"}`).join("; ");
  r.out.status(`bomfather: host names' addresses changed (${list}): applied as policy generation ${generation}, in ${phases}\n`);
}

/** Write bytes to path atomically: a new file renamed over the old one (its protection follows). */
function replaceFile(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.bomfather-new`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeFileSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
