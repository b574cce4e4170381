// `./dev bench-check`: how long `bomfather check` takes, and how much memory, on policies of
// 1,000, 10,000 and 50,000 file rules plus as many network addresses, written in block style as
// the docs show them. Each size runs several times; the table shows the median and the fastest
// wall time and the largest peak RSS. The README quotes this table.
//
// The protected paths do not exist on this machine (as in CI, where policies are checked away
// from their host): each is a warning, checked and counted, 100 of them printed. The network
// section is refused ("not enforced by this version"), one error; the addresses are still
// checked. A benchmark, not a test: the numbers depend on the machine, so nothing here fails on
// them; they are compared by hand with the README's (at most 300 ms and 150 MB for 10,000).
//
//   bun test/bench/check.ts [RUNS]     RUNS per size, default 5 (dist/bomfather must be built)
export {};

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = join(import.meta.dir, "..", "..", "dist", "bomfather");
if (!existsSync(bin)) throw new Error(`${bin} is missing: run ./dev build first`);
const runs = Number(process.argv[2] ?? 5);
const SIZES = [1_000, 10_000, 50_000];
const EXECUTABLES = 20;
const ADDRESSES_PER_DESTINATION = 100;

/** n file rules and n addresses, in the block style of docs/policy.md. */
function policy(n: number): string {
  const out: string[] = ["version: 1", "executables:"];
  for (let e = 0; e < EXECUTABLES; e++) out.push(`  app-${e}:`, `    path: /opt/bench/bin/app-${e}`);
  out.push("files:");
  for (let i = 0; i < n; i++)
    out.push(
      `  - path: /srv/bench/dir-${Math.floor(i / 100)}/file-${i}.txt`,
      "    allow:",
      `      - executable: app-${i % EXECUTABLES}`,
      "        access: [read]",
    );
  out.push("network:", "  default: deny", "  destinations:");
  for (let d = 0; d * ADDRESSES_PER_DESTINATION < n; d++) {
    out.push(`    dest-${d}:`, "      addresses:");
    for (let a = d * ADDRESSES_PER_DESTINATION; a < Math.min(n, (d + 1) * ADDRESSES_PER_DESTINATION); a++)
      out.push(`        - 10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`);
    out.push("      ports: [443]", `      allow: [app-${d % EXECUTABLES}]`);
  }
  return `${out.join("\n")}\n`;
}

const dir = mkdtempSync(join(tmpdir(), "bomfather-bench-"));
try {
  console.log(`bomfather check, ${runs} runs per size (${bin})\n`);
  console.log("rules + addresses |   policy |  median |  fastest | peak RSS | ms per 1,000 rules above 1,000");
  console.log("------------------|----------|---------|----------|----------|-------------------------------");
  let base: number | undefined;
  for (const n of SIZES) {
    const text = policy(n);
    const file = join(dir, `policy-${n}.yaml`);
    writeFileSync(file, text);
    const times: number[] = [];
    let rss = 0;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const p = Bun.spawnSync([bin, "check", file], { stdout: "ignore", stderr: "pipe" });
      times.push(performance.now() - t0);
      rss = Math.max(rss, p.resourceUsage.maxRSS);
      const verdict = p.stderr.toString().trim().split("\n").at(-1) ?? "";
      // The policy is refused for its network section only, with every path counted.
      if (p.exitCode !== 1 || !verdict.endsWith(`invalid, 1 error, ${n + EXECUTABLES} warnings`)) throw new Error(`unexpected result for ${n} rules: exit ${p.exitCode}, ${verdict}`);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const mb = (b: number, digits = 0) => `${(b / 1e6).toFixed(digits)} MB`;
    // Linear growth shows as the same cost per extra 1,000 rules at every size.
    const marginal = base === undefined ? "" : `${(((median - base) / (n - SIZES[0]!)) * 1000).toFixed(1)} ms`;
    base ??= median;
    console.log(
      `${n.toLocaleString("en").padStart(8)} + ${n.toLocaleString("en").padEnd(7)}|${mb(text.length, 1).padStart(9)} |${`${median.toFixed(0)} ms`.padStart(8)} |${`${times[0]!.toFixed(0)} ms`.padStart(9)} |${mb(rss).padStart(9)} | ${marginal}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
