// Proves the kernel harness itself on both kernels: the right kernel boots with the BPF LSM on, a
// glibc binary from the host runs inside, lib.sh works, a failing check reaches the host as FAIL,
// and a boot without bpf in lsm= really lacks it.
// Run: node_modules/.bin/bun test test/kernel/smoke.test.ts

import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchGuestFiles, buildBenchTools } from "./bench/tools.ts";
import { expectPass, kernelSuite, lazyRun, testTimeoutMs } from "./harness.ts";
import { KERNEL_SERIES } from "./kernels.ts";

const scenario = (name: string) => join(import.meta.dir, "scenarios", `${name}.sh`);

const SMOKE_CHECKS = [
  "smoke-kernel-series",
  "smoke-lsm-has-bpf",
  "smoke-clock-not-tsc",
  "smoke-mounts",
  "smoke-glibc-binary-runs",
  "smoke-glibc-binary-output",
  "smoke-as-user",
  "smoke-eperm-detected",
  "smoke-wait-for-line",
  "smoke-stop-bg",
  "smoke-wait-for-line-sees-exit",
  "smoke",
];

// The emulator under the suite must patch kernel code correctly (scenarios/code-patching.sh).
const tools = mkdtempSync(join(tmpdir(), "bomfather-smoke-"));
await buildBenchTools(tools);
writeFileSync(join(tools, "env.sh"), `PATCH_CYCLES=${process.env.PATCH_CYCLES ?? 1000}\n`);

for (const series of KERNEL_SERIES) {
  describe(`kernel ${series}`, () => {
    const results = lazyRun({
      series,
      scenarios: [scenario("smoke"), scenario("selftest-fail")],
      files: [{ host: "/bin/ls", guest: "/opt/host/ls" }],
      expected: SMOKE_CHECKS,
    });

    for (const name of SMOKE_CHECKS) {
      test(name, async () => expectPass(await results(), name), testTimeoutMs());
    }

    test("a failing check reaches the host as FAIL with its log", async () => {
      const all = await results();
      const check = all.get("selftest-deliberate-failure");
      expect(check?.ok).toBe(false);
      expect(check?.detail).toBe("deliberate failure, expected by smoke.test.ts");
      expect(check?.log).toContain("this line belongs to the log of selftest-fail");
      expect(all.get("selftest-fail")?.ok).toBe(false);
    }, testTimeoutMs());
  });

  kernelSuite({
    kernels: [series],
    label: "without bpf in lsm=",
    lsm: "lockdown,capability,landlock,yama",
    scenarios: [scenario("lsm-without-bpf")],
    checks: ["lsm-list-lacks-bpf"],
  });

  kernelSuite({
    kernels: [series],
    label: "emulator",
    scenarios: [scenario("code-patching")],
    files: benchGuestFiles(tools, ["env.sh"]),
    timeoutMs: 600_000,
    scenarioTimeoutSeconds: 540,
    checks: ["code-patching"],
  });
}
