// No VM: which failed boots the harness may retry. Only a guest kernel that crashed before
// any scenario started; never one that died while our scenarios (and our BPF programs) ran.
import { expect, test } from "bun:test";
import { diedBeforeScenarios, guestClockAhead } from "./harness.ts";
import { consoleProblems } from "./vm.ts";

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

// The reports of the kernel's own detectors, as 6.1 prints them; each must fail a run.
const reports = [
  "[  412.118720] watchdog: BUG: soft lockup - CPU#0 stuck for 365s! [sh:96]",
  "[  412.120001] rcu: INFO: rcu_preempt self-detected stall on CPU",
  "[  433.001002] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
  "[  605.200100] INFO: task rcu_tasks_kthre:11 blocked for more than 483 seconds.",
  "[   12.000000] WARNING: CPU: 1 PID: 140 at kernel/bpf/trampoline.c:250 bpf_trampoline_update+0x1/0x2",
  "[   13.000000] Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] PREEMPT SMP NOPTI",
  "[   14.000000] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
  "[   15.000000] Kernel panic - not syncing: softlockup: hung tasks",
];

test("every lockup, stall, hung task, oops, BUG and WARNING in the guest console is a problem", () => {
  for (const line of reports) expect(consoleProblems(`[    0.1] Linux version 6.1\n${line}\n[  999.0] reboot: Power down\n`)).toEqual([line.trim()]);
});

test("an ordinary boot has no console problem", () => {
  const boot = [
    "[    0.000000] Command line: console=ttyS0 panic=-1 softlockup_all_cpu_backtrace=1 softlockup_panic=1 hung_task_panic=1 lsm=bpf",
    "[    0.083006] Unknown kernel command line parameters \"BFTEST_SERIES=6.1\", will be passed to user space.",
    "[    0.231000] rcu: Hierarchical RCU implementation.",
    "[    0.232000] rcu: RCU calculated value of scheduler-enlistment delay is 25 jiffies.",
    "[    1.512000] watchdog: Disabling watchdog on nohz_full cores by default",
    "[    2.757794] Run /init as init process",
    "[   40.100000] reboot: Power down",
  ].join("\n");
  expect(consoleProblems(boot)).toEqual([]);
});

// The soak of 2026-12-02 on 6.1: the machine was paused and resumed on another host while the VM
// ran 141 s; the guest's TSC jumped by five days and its lockup detector panicked.
const booted = "[   40.512000] Run /init as init process";
const jumped = [
  booted,
  "[462494.763841] watchdog: BUG: soft lockup - CPU#0 stuck for 430604s! [bomfather:9806]",
  "[462494.791446] Kernel panic - not syncing: softlockup: hung tasks",
].join("\n");

test("a guest clock that ran ahead of the host's is recognised, with the line that shows it", () => {
  expect(guestClockAhead({ console: jumped, durationMs: 140_801 })).toContain("stuck for 430604s");
});

test("a guest clock within the VM's life on the host is not a jump, whatever the console says", () => {
  expect(guestClockAhead({ console: booted, durationMs: 140_801 })).toBeUndefined();
  // A real lockup: the guest's time stays within the VM's life.
  expect(guestClockAhead({ console: reports.join("\n"), durationMs: 620_000 })).toBeUndefined();
});
