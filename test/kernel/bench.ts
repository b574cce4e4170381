// `./dev bench`: the cost of the agent's hooks, measured inside one VM run per kernel, both kernels
// at once. The VMs run on QEMU's counted time (vm.ts ICOUNT): a guest nanosecond is one guest
// instruction, so what the guest times does not depend on what else the host is doing, and a ratio
// is a ratio of instructions executed (not of cache misses, which emulation does not model).
//
// - open+close and fork+exec as ratios against no BPF program and against empty programs on the
//   same hooks. Rounds interleave the three modes (each round in another order); each ratio is
//   printed as the median over rounds with its spread (min..max of the per-round ratios).
// - the cost of each program per call from the kernel's own statistics (run_time_ns / run_cnt,
//   kernel.bpf_stats_enabled), for the agent and for the empty programs.
// - the time from start to enforcing the large policy.
// The agent enforces a large policy, so the numbers show that a decision does not grow with the
// number of rules. Writes dist/bench.json.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchGuestFiles, buildBenchTools, largePolicy, TREE_DEPTHS, treePolicy } from "./bench/tools.ts";
import { runScenariosWithDetails } from "./harness.ts";
import { makeTestKey, type TestKey } from "./keys.ts";
import { KERNEL_SERIES, type KernelSeries } from "./kernels.ts";

const root = join(import.meta.dir, "..", "..");
const here = join(import.meta.dir, "bench");
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const FILES = env("BENCH_FILES", 5000);
const SCALE_FILES = env("BENCH_SCALE_FILES", 10000);
/** The network rules of the large policies: CIDRs (half IPv4, half IPv6) and named executables. */
const NET = { addresses: env("BENCH_ADDRESSES", 10000), exes: env("BENCH_EXES", 1000) };
const SETTINGS = {
  BENCH_FILES: FILES,
  BENCH_SCALE_FILES: SCALE_FILES,
  BENCH_ITERATIONS: env("BENCH_ITERATIONS", 5000),
  BENCH_EXEC_ITERATIONS: env("BENCH_EXEC_ITERATIONS", 150),
  BENCH_NET_ITERATIONS: env("BENCH_NET_ITERATIONS", 1000),
  BENCH_RUNS: env("BENCH_RUNS", 2),
  BENCH_ROUNDS: env("BENCH_ROUNDS", 3),
  /** Files below the protected directory of the directory bench. */
  BENCH_TREE_FILES: env("BENCH_TREE_FILES", 100000),
};
const MODES = ["none", "empty", "agent"] as const;
type Mode = (typeof MODES)[number];

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}
const spread = (xs: number[]): Spread => ({ median: +median(xs).toFixed(3), min: +Math.min(...xs).toFixed(3), max: +Math.max(...xs).toFixed(3) });
const showSpread = (s: Spread) => `${s.median.toFixed(3)}x (${s.min.toFixed(3)}..${s.max.toFixed(3)})`;

/** samples[op][mode][round] = ns per operation of each run in that round. */
type Samples = Record<string, Record<string, Record<number, number[]>>>;

function parseSamples(log: string): Samples {
  const samples: Samples = {};
  for (const m of log.matchAll(/^BENCH (\w+) (\w+) (\d+) ([\d.]+)$/gm)) {
    (((samples[m[1]!] ??= {})[m[2]!] ??= {})[Number(m[3])] ??= []).push(Number(m[4]));
  }
  return samples;
}

/** Ratios of per-round medians (a over b), one per round in which both were measured. */
function roundRatios(byRound: Record<string, Record<number, number[]>>, a: Mode, b: Mode): number[] {
  const out: number[] = [];
  for (const [round, xs] of Object.entries(byRound[a] ?? {})) {
    const ys = byRound[b]?.[Number(round)];
    if (xs.length && ys?.length) out.push(median(xs) / median(ys));
  }
  return out;
}

/** Per program name: ns per call and calls, from `bpftool -j prog show` with statistics on. */
function programCosts(log: string, mode: "empty" | "agent"): Record<string, { nsPerCall: number; calls: number }> {
  const line = log.match(new RegExp(`^BPFSTATS ${mode} (.*)$`, "m"))?.[1];
  if (!line) throw new Error(`no BPFSTATS line for ${mode}`);
  const costs: Record<string, { nsPerCall: number; calls: number }> = {};
  for (const p of JSON.parse(line) as { name: string; type: string; run_time_ns?: number; run_cnt?: number }[]) {
    if (p.type !== "lsm" || !p.run_cnt) continue;
    const hook = p.name.replace(/^empty_/, "");
    costs[hook] = { nsPerCall: Math.round((p.run_time_ns ?? 0) / p.run_cnt), calls: p.run_cnt };
  }
  return costs;
}

async function benchKernel(series: KernelSeries, dir: string, key: TestKey): Promise<Record<string, unknown>> {
  // Both kernels run at once: each prints its lines when it is done.
  const lines: string[] = [];
  const perKernel = await measureKernel(series, dir, key, (line) => lines.push(line));
  console.log(lines.join("\n"));
  return perKernel;
}

async function measureKernel(series: KernelSeries, dir: string, key: TestKey, print: (line: string) => void): Promise<Record<string, unknown>> {
  const r = await runScenariosWithDetails({
    icount: true,
    series,
    scenarios: [join(here, "openclose.sh")],
    files: [
      ...benchGuestFiles(dir, ["large.yaml", "one.yaml", "files.yaml", "scale.yaml", "scale-reload-0.yaml", "scale-reload-1.yaml", "tree.yaml", "env.sh"], key),
      { host: "/usr/sbin/bpftool", guest: "/usr/sbin/bpftool" },
    ],
    timeoutMs: 5_400_000,
    scenarioTimeoutSeconds: 5_000,
    expected: ["bench-done", "bench-agent-enforces", "bench-tree-enforces"],
  });
  const log = r.results.get("openclose")?.log ?? "";
  const failed = [...r.results].filter(([, v]) => !v.ok);
  if (failed.length) {
    console.error(log);
    throw new Error(`bench on ${series} failed (guest console: ${r.consoleLog}): ${failed.map(([k, v]) => `${k}: ${v.detail}`).join("; ")}`);
  }
  const samples = parseSamples(log);
  const perKernel: Record<string, unknown> = { kernel: r.kernel.version };
  for (const [op, label] of [["openclose", "open+close"], ["forkexec", "fork+exec"], ["tcpconnect", "TCP connect"], ["udpsendto", "UDP sendto"], ["udpalternate", "UDP sendto to two destinations in turn"]] as const) {
    const s = samples[op] ?? {};
    const all = (mode: Mode) => Object.values(s[mode] ?? {}).flat();
    const ns = Object.fromEntries(MODES.map((m) => [m, median(all(m))])) as Record<Mode, number>;
    if (!MODES.every((m) => ns[m] > 0)) throw new Error(`bench on ${series}: no samples for ${op}\n${log}`);
    const ratio = {
      emptyVsNone: spread(roundRatios(s, "empty", "none")),
      agentVsNone: spread(roundRatios(s, "agent", "none")),
      agentVsEmpty: spread(roundRatios(s, "agent", "empty")),
    };
    perKernel[op] = { nsPerOp: ns, ratio, samples: s };
    print(
      `kernel ${series} (${r.kernel.version}): ${label} ${ns.none.toFixed(0)} ns without BPF; ` +
        `empty programs ${showSpread(ratio.emptyVsNone)}, agent with ${FILES + 1} file rules, ${NET.addresses} CIDRs, ${NET.exes} executables ${showSpread(ratio.agentVsNone)}, ` +
        `agent vs empty ${showSpread(ratio.agentVsEmpty)} (median over rounds, min..max)`,
    );
  }
  // The kernel memory of the agent's maps, large policy in force: the network maps by name.
  const maps = JSON.parse(log.match(/^MAPMEM (.*)$/m)?.[1] ?? "[]") as { name?: string; bytes_memlock?: number }[];
  const bf = maps.filter((m) => m.name?.startsWith("bf_"));
  const bytes = (re: RegExp) => bf.filter((m) => re.test(m.name!)).reduce((n, m) => n + (m.bytes_memlock ?? 0), 0);
  const memory = { allMaps: bytes(/./), network: bytes(/^bf_(dests|ports|confined|net)/), maps: bf.length };
  perKernel.mapMemory = memory;
  print(
    `kernel ${series}: map memory with the large policy (bpftool's memlock): ${(memory.allMaps / 2 ** 20).toFixed(1)} MiB in ${memory.maps} maps, ` +
      `of which the network's (${NET.addresses} CIDRs) ${(memory.network / 2 ** 20).toFixed(1)} MiB`,
  );
  // The agent's own memory, idle after the reloads of the large policy: resident, and its peak.
  const mem = log.match(/^AGENTMEM VmHWM: (\d+) VmRSS: (\d+)/m);
  if (!mem) throw new Error(`bench on ${series}: no AGENTMEM line\n${log}`);
  perKernel.agentMemory = { residentKiB: Number(mem[2]), peakKiB: Number(mem[1]) };
  print(`kernel ${series}: the agent's memory after the reloads, idle: ${(Number(mem[2]) / 1024).toFixed(0)} MiB resident, ${(Number(mem[1]) / 1024).toFixed(0)} MiB at its peak`);
  const empty = programCosts(log, "empty");
  const agent = programCosts(log, "agent");
  perKernel.programs = { empty, agent };
  print(`kernel ${series}: cost per call from the kernel's BPF statistics (counted ns: guest instructions): hook: empty / agent (calls)`);
  for (const hook of Object.keys(agent).sort()) {
    print(`  ${hook.padEnd(22)} ${String(empty[hook]?.nsPerCall ?? "-").padStart(6)} / ${String(agent[hook]!.nsPerCall).padStart(6)}  (${agent[hook]!.calls})`);
  }
  const times = (op: string, mode: string) => Object.values(samples[op]?.[mode] ?? {}).flat();
  const startup = times("startup", "agent");
  const one = median(times("startup", "one"));
  const files = median(times("startup", "files"));
  const scale = median(times("startup", "scale"));
  const reload = median(times("reload", "scale"));
  perKernel.startup = {
    msToEnforce: Math.round(median(startup) / 1e6),
    samples: startup,
    oneRuleMs: Math.round(one / 1e6),
    fileRulesMs: Math.round(files / 1e6),
    filesVsOne: +(files / one).toFixed(2),
    scaleRulesMs: Math.round(scale / 1e6),
    scaleVsOne: +(scale / one).toFixed(2),
    reloadMs: Math.round(reload / 1e6),
    reloadVsColdStart: +(reload / scale).toFixed(2),
  };
  print(`kernel ${series}: from start to enforcing ${FILES + 1} file rules: ${(median(startup) / 1e9).toFixed(1)} s (counted time)`);
  print(
    `kernel ${series}: start to enforcing: 1 rule ${(one / 1e9).toFixed(1)} s, ${SCALE_FILES + 1} file rules ${(files / 1e9).toFixed(1)} s (${(files / one).toFixed(2)}x); ` +
      `${SCALE_FILES + 1} rules ${(scale / 1e9).toFixed(1)} s ` +
      `(${(scale / one).toFixed(2)}x) with ${NET.addresses} CIDRs too; signed reload of them ${(reload / 1e9).toFixed(1)} s (${(reload / scale).toFixed(2)}x a cold start)`,
  );
  // Protected directories: an open+close at each depth in a tree of BENCH_TREE_FILES files, over the
  // same open of a single protected file at that depth (per round), and the start with that tree.
  const tree = samples.treeopen ?? {};
  const depths: Record<string, Spread> = {};
  for (const d of TREE_DEPTHS) {
    const ratios: number[] = [];
    for (const [round, xs] of Object.entries(tree[`tree${d}`] ?? {})) {
      const ys = tree[`single${d}`]?.[Number(round)];
      if (xs.length && ys?.length) ratios.push(median(xs) / median(ys));
    }
    if (!ratios.length) throw new Error(`bench on ${series}: no directory samples at depth ${d}\n${log}`);
    depths[`depth${d}`] = spread(ratios);
  }
  const treeStart = median(times("startup", "tree"));
  perKernel.directories = { files: SETTINGS.BENCH_TREE_FILES, treeVsSingleFile: depths, samples: tree, startupMs: Math.round(treeStart / 1e6), startupVsOne: +(treeStart / one).toFixed(2) };
  print(
    `kernel ${series}: open+close in a protected directory of ${SETTINGS.BENCH_TREE_FILES} files vs a single protected file at the same depth: ` +
      TREE_DEPTHS.map((d) => `depth ${d} ${showSpread(depths[`depth${d}`]!)}`).join(", "),
  );
  print(`kernel ${series}: start to enforcing with that directory: ${(treeStart / 1e9).toFixed(1)} s (${(treeStart / one).toFixed(2)}x 1 rule)`);
  // The agent's own account of the last start of each size and of the last reload, step by step.
  const steps: Record<string, string> = {};
  for (const m of log.matchAll(/^STEPS (\S+) (.*)$/gm)) steps[m[1]!] = m[2]!.replace(/^.*\bin ([0-9.]+ s \(.*\))$/, "$1");
  perKernel.steps = steps;
  for (const [what, line] of Object.entries(steps)) print(`kernel ${series}: ${what}: ${line}`);
  return perKernel;
}

if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), "bomfather-bench-"));
  await buildBenchTools(dir);
  const key = await makeTestKey(dir);
  writeFileSync(join(dir, "large.yaml"), largePolicy(FILES, key, "monitor", NET));
  writeFileSync(join(dir, "one.yaml"), largePolicy(0, key));
  writeFileSync(join(dir, "files.yaml"), largePolicy(SCALE_FILES, key));
  writeFileSync(join(dir, "scale.yaml"), largePolicy(SCALE_FILES, key, "enforce", NET));
  // Two variants of the large policy, so that every reload changes something (one more rule).
  writeFileSync(join(dir, "scale-reload-0.yaml"), largePolicy(SCALE_FILES - 1, key, "enforce", NET));
  writeFileSync(join(dir, "scale-reload-1.yaml"), largePolicy(SCALE_FILES, key, "enforce", NET));
  writeFileSync(join(dir, "tree.yaml"), treePolicy(key));
  writeFileSync(join(dir, "env.sh"), Object.entries(SETTINGS).map(([k, v]) => `${k}=${v}\n`).join(""));
  const report: Record<string, unknown> = {};
  const kernels = (process.argv[2] ? [process.argv[2]] : KERNEL_SERIES) as KernelSeries[];
  const measured = await Promise.all(kernels.map((series) => benchKernel(series, dir, key)));
  kernels.forEach((series, i) => (report[series] = measured[i]));
  mkdirSync(join(root, "dist"), { recursive: true });
  const out = { date: new Date().toISOString(), policyFileRules: FILES + 1, settings: SETTINGS, note: "TCG VM with counted time (QEMU -icount shift=0): a guest ns is one guest instruction; compare ratios", results: report };
  writeFileSync(join(root, "dist", "bench.json"), JSON.stringify(out, null, 2) + "\n");
  console.log(`wrote dist/bench.json`);
}
