// `./dev bench`: the cost of the agent's hooks (open+close, fork+exec), measured inside one VM run per kernel as
// ratios against no BPF program and against empty programs on the same hooks (medians of
// 9 runs: 3 rounds interleaving the modes, 3 runs each). The agent enforces a large policy, so the numbers show that a decision
// does not grow with the number of rules. Writes dist/bench.json.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNative, vmlinuxHeader } from "../../build.ts";
import { runScenariosWithDetails } from "./harness.ts";
import { KERNEL_SERIES } from "./kernels.ts";
import { run } from "./run.ts";

const root = join(import.meta.dir, "..", "..");
const here = join(import.meta.dir, "bench");
const FILES = Number(process.env.BENCH_FILES ?? 5000);

async function buildTools(dir: string): Promise<void> {
  const native = buildNative();
  const vmlinux = vmlinuxHeader();
  await run(["gcc", "-O2", "-o", join(dir, "openclose"), join(here, "openclose.c")]);
  await run(["gcc", "-O2", "-o", join(dir, "forkexec"), join(here, "forkexec.c")]);
  await run(["clang", "-O2", "-g", "-target", "bpf", `-I${join(vmlinux, "..")}`, `-I${native.include}`, "-c", join(here, "empty.bpf.c"), "-o", join(dir, "empty.bpf.o")]);
  await run(["gcc", "-O2", `-I${native.include}`, "-o", join(dir, "empty-loader"), join(here, "empty-loader.c"), ...native.libs]);
}

/** A policy with FILES protected files (each granted to the trusted reader) plus the demo rule. */
function largePolicy(): string {
  const lines = [
    "version: 1",
    "executables:",
    "  reader:",
    "    path: /usr/local/bin/trusted-reader",
    "files:",
    "  - path: /srv/demo/secret.txt",
    "    allow: [{ executable: reader, access: read }]",
  ];
  for (let i = 0; i < FILES; i++) lines.push(`  - { path: /srv/bench/f${i}, allow: [{ executable: reader, access: [read, write] }] }`);
  return lines.join("\n") + "\n";
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const dir = mkdtempSync(join(tmpdir(), "bomfather-bench-"));
await buildTools(dir);
writeFileSync(join(dir, "large.yaml"), largePolicy());
writeFileSync(join(dir, "env.sh"), `BENCH_FILES=${FILES}\nBENCH_ITERATIONS=${process.env.BENCH_ITERATIONS ?? 20000}\nBENCH_RUNS=${process.env.BENCH_RUNS ?? 3}\nBENCH_ROUNDS=${process.env.BENCH_ROUNDS ?? 3}\n`);

const report: Record<string, unknown> = {};
for (const series of KERNEL_SERIES) {
  const r = await runScenariosWithDetails({
    series,
    scenarios: [join(here, "openclose.sh")],
    files: [
      { host: join(root, "dist", "bomfather"), guest: "/usr/local/sbin/bomfather" },
      { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
      ...["openclose", "forkexec", "empty-loader", "empty.bpf.o", "large.yaml", "env.sh"].map((f) => ({ host: join(dir, f), guest: `/opt/bench/${f}` })),
    ],
    timeoutMs: 900_000,
    scenarioTimeoutSeconds: 850,
    expected: ["bench-done", "bench-agent-enforces"],
  });
  const log = r.results.get("openclose")?.log ?? "";
  const failed = [...r.results].filter(([, v]) => !v.ok);
  if (failed.length) {
    console.error(log);
    throw new Error(`bench on ${series} failed: ${failed.map(([k, v]) => `${k}: ${v.detail}`).join("; ")}`);
  }
  const samples: Record<string, Record<string, number[]>> = {};
  for (const m of log.matchAll(/^BENCH (\w+) (\w+) ([\d.]+)$/gm)) ((samples[m[1]!] ??= {})[m[2]!] ??= []).push(Number(m[3]));
  const perKernel: Record<string, unknown> = { kernel: r.kernel.version };
  for (const [op, label] of [["openclose", "open+close"], ["forkexec", "fork+exec"]] as const) {
    const s = samples[op] ?? {};
    const none = median(s.none ?? []);
    const empty = median(s.empty ?? []);
    const agent = median(s.agent ?? []);
    if (!(none > 0 && empty > 0 && agent > 0)) throw new Error(`bench on ${series}: no samples for ${op}\n${log}`);
    perKernel[op] = {
      nsPerOp: { none, empty, agent },
      ratio: { emptyVsNone: +(empty / none).toFixed(3), agentVsNone: +(agent / none).toFixed(3), agentVsEmpty: +(agent / empty).toFixed(3) },
      samples: s,
    };
    console.log(`kernel ${series} (${r.kernel.version}): ${label} ${none.toFixed(0)} ns without BPF, ` +
      `empty programs ${(empty / none).toFixed(3)}x, agent with ${FILES + 1} file rules ${(agent / none).toFixed(3)}x`);
  }
  const startup = median(samples.startup?.agent ?? []);
  perKernel.startup = { msToEnforce: Math.round(startup / 1e6), samples: samples.startup?.agent };
  console.log(`kernel ${series}: from start to enforcing ${FILES + 1} file rules: ${(startup / 1e9).toFixed(1)} s (TCG)`);
  report[series] = perKernel;
}
mkdirSync(join(root, "dist"), { recursive: true });
const out = { date: new Date().toISOString(), policyFileRules: FILES + 1, note: "TCG VM; compare ratios within one run only", results: report };
writeFileSync(join(root, "dist", "bench.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`wrote dist/bench.json`);
