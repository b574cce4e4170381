// Soak, on both kernels: many start/stop cycles of the agent with a large policy, alternating with
// empty programs on the same hooks, under open, fork and exec load (scenarios/soak.sh). It fails on
// any soft lockup, RCU stall, hung task, oops or warning in the guest console, and on an agent that
// does not reach "enforcing" or does not exit.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchGuestFiles, buildBenchTools, largePolicy } from "./bench/tools.ts";
import { kernelSuite } from "./harness.ts";
import { makeTestKey } from "./keys.ts";

const root = join(import.meta.dir, "..", "..");
if (!existsSync(join(root, "dist", "bomfather"))) throw new Error("dist/bomfather is missing: run ./dev build first (./dev test does)");

const CYCLES = Number(process.env.SOAK_CYCLES ?? 6);
const FILES = Number(process.env.SOAK_FILES ?? 5000);

const dir = mkdtempSync(join(tmpdir(), "bomfather-soak-"));
await buildBenchTools(dir);
const key = await makeTestKey(dir);
writeFileSync(join(dir, "large.yaml"), largePolicy(FILES, key));
writeFileSync(join(dir, "env.sh"), `SOAK_CYCLES=${CYCLES}\nSOAK_FILES=${FILES}\n`);

kernelSuite({
  scenarios: [join(import.meta.dir, "scenarios", "soak.sh")],
  files: benchGuestFiles(dir, ["large.yaml", "env.sh"], key),
  timeoutMs: 900_000,
  scenarioTimeoutSeconds: 840,
  checks: [
    "soak-agent-enforces-every-cycle",
    "soak-agent-denies-every-cycle",
    "soak-trusted-reader-every-cycle",
    "soak-agent-exits-every-cycle",
    "soak-empty-programs-every-cycle",
    "soak-dmesg-clean",
    "soak-load-ran-throughout",
  ],
});
