// No VM: which failed boots the harness may retry. Only a guest kernel that crashed before
// any scenario started; never one that died while our scenarios (and our BPF programs) ran.
import { expect, test } from "bun:test";
import { diedBeforeScenarios } from "./harness.ts";

const panic = "[    1.23] RIP: 0010:sched_clock_cpu+0x9/0x190\n[    1.23] Kernel panic - not syncing: Fatal exception in interrupt\n";

test("a kernel panic during boot, before any scenario, may be retried", () => {
  expect(diedBeforeScenarios({ results: "", console: panic })).toBe(true);
});

test("a crash once a scenario has started is never retried", () => {
  expect(diedBeforeScenarios({ results: "BFTEST-LOG-BEGIN file-slice\n", console: panic })).toBe(false);
});

test("a boot that ended without a crash is not retried", () => {
  expect(diedBeforeScenarios({ results: "", console: "[    0.5] Run /init as init process\n" })).toBe(false);
});
