// Ties the kernel harness together: host tools -> cached kernel -> initramfs -> VM -> parsed results,
// and registers one bun test per check so a test file stays a list of what it expects.

import { describe, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureHostTools } from "./host-tools.ts";
import { buildInitramfs, scenarioName, type GuestFile } from "./initramfs.ts";
import { ensureKernel, guestModuleFiles, KERNEL_SERIES, type Kernel, type KernelSeries } from "./kernels.ts";
import { describeFailure, parseResults, type Results } from "./protocol.ts";
import { bootVM, consoleProblems, DEFAULT_LSM, DEFAULT_VM_TIMEOUT_MS, serialLines, type BootResult } from "./vm.ts";

export interface RunScenariosOptions {
  series: KernelSeries;
  /** Host paths of the scenario scripts, run in this order in one VM boot. */
  scenarios: string[];
  /** Binaries and data to put into the VM; their shared libraries are added automatically. */
  files?: GuestFile[];
  /** lsm= kernel parameter; default "lockdown,capability,landlock,yama,bpf". */
  lsm?: string;
  /** Check names that must be reported; each missing one is a failure. */
  expected?: string[];
  /** Whole VM run limit; default 120 s. */
  timeoutMs?: number;
  /** Per-scenario limit inside the VM; default 60 s. */
  scenarioTimeoutSeconds?: number;
  /** Boot with counted time (vm.ts ICOUNT). */
  icount?: boolean;
}

/**
 * The result every boot reports beside its scenarios' checks: the guest kernel printed no soft
 * lockup, RCU stall, hung task, oops, BUG or WARNING (vm.ts consoleProblems).
 */
export const CONSOLE_CHECK = "guest-kernel-console-clean";

/** Where every boot's whole kernel console is kept (newest CONSOLE_LOGS_KEPT of them). */
export const CONSOLE_LOG_DIR = process.env.BOMFATHER_VM_LOGS ?? join(import.meta.dir, "..", "..", "dist", "vm-logs");
const CONSOLE_LOGS_KEPT = 200;

export interface ScenarioRun {
  results: Results;
  kernel: Kernel;
  boot: BootResult;
  /** The file holding this boot's whole kernel console. */
  consoleLog: string;
  timings: { kernelMs: number; initramfsMs: number; vmMs: number; initramfsBytes: number };
}

/** Boots one VM on the given kernel series, runs the scenarios, returns one result per check and per scenario. */
export async function runScenarios(options: RunScenariosOptions): Promise<Results> {
  return (await runScenariosWithDetails(options)).results;
}

export async function runScenariosWithDetails(options: RunScenariosOptions): Promise<ScenarioRun> {
  await ensureHostTools();
  let started = performance.now();
  const kernel = await ensureKernel(options.series);
  const kernelMs = performance.now() - started;

  const work = mkdtempSync(join(tmpdir(), "bomfather-initramfs-"));
  try {
    const initramfs = join(work, "root.cpio");
    started = performance.now();
    await buildInitramfs({
      // The booted kernel's modules that Debian does not build in (loop), at /lib/modules/$(uname -r).
      files: [...(options.files ?? []), ...guestModuleFiles(kernel)],
      scenarios: options.scenarios,
      out: initramfs,
      scenarioTimeoutSeconds: options.scenarioTimeoutSeconds,
    });
    const initramfsMs = performance.now() - started;
    const initramfsBytes = statSync(initramfs).size;

    // A kernel parameter "NAME=value" without a dot in NAME becomes an environment variable of /init.
    let consoleLog = "";
    const bootOnce = () => {
      consoleLog = newConsoleLog(options.series, options.scenarios.map(scenarioName));
      return bootVM({
        kernel: kernel.vmlinuz,
        initramfs,
        lsm: options.lsm,
        append: `BFTEST_SERIES=${options.series}`,
        timeoutMs: options.timeoutMs,
        consoleLog,
        icount: options.icount,
      });
    };
    let boot = await bootOnce();
    // Software emulation occasionally crashes the guest kernel while it boots, before /init
    // runs anything of ours (seen on 6.12 under QEMU 7.2 TCG). Such a boot is retried; a VM
    // that dies once scenarios have started never is, so no result of ours is ever retried away.
    for (let retry = 1; retry <= BOOT_RETRIES && diedBeforeScenarios(boot); retry++) {
      process.stderr.write(
        `[kernel ${kernel.package}] the guest kernel crashed while booting, before any scenario ran; retrying (${retry}/${BOOT_RETRIES})\n`,
      );
      boot = await bootOnce();
    }
    // A guest whose clock ran ahead of the host's jumped with the host CPU's TSC (the machine was
    // paused and resumed elsewhere): its deadlines and lockup detectors fired on time that never
    // passed, so the run proves nothing either way and is run once more.
    let ahead = options.icount ? undefined : guestClockAhead(boot);
    for (let retry = 1; retry <= CLOCK_RETRIES && ahead; retry++) {
      process.stderr.write(
        `[kernel ${kernel.package}] the guest's clock jumped ahead of the host's (${ahead}); the run proves nothing, running it again (${retry}/${CLOCK_RETRIES})\n`,
      );
      boot = await bootOnce();
      ahead = guestClockAhead(boot);
    }
    const results = parseResults(boot.results, {
      scenarios: options.scenarios.map(scenarioName),
      expected: options.expected,
      vmProblem: boot.problem,
      consoleTail: serialLines(boot.console).slice(-40).join("\n"),
      consoleLog,
    });
    const problems = consoleProblems(boot.console);
    results.set(CONSOLE_CHECK, {
      ok: problems.length === 0,
      detail: problems.length === 0 ? "no lockup, stall, hung task, oops, BUG or WARNING" : `the guest kernel reported: ${problems.slice(0, 10).join(" | ")}`,
      log: `full guest console: ${consoleLog}`,
    });
    if (problems.length || [...results.values()].some((r) => !r.ok)) {
      process.stderr.write(`[kernel ${kernel.package}] a check failed; the whole guest console is in ${consoleLog}\n`);
    }
    const timings = { kernelMs, initramfsMs, vmMs: boot.durationMs, initramfsBytes };
    process.stderr.write(
      `[kernel ${kernel.package} ${kernel.version}, lsm=${options.lsm ?? DEFAULT_LSM}] ` +
        `kernel ready ${seconds(kernelMs)}, initramfs ${(initramfsBytes / 1e6).toFixed(1)} MB ${seconds(initramfsMs)}, ` +
        `VM boot + scenarios + poweroff ${seconds(boot.durationMs)}\n`,
    );
    return { results, kernel, boot, consoleLog, timings };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Starts the run on first call; later calls share it. For tests that read one VM's results. */
export function lazyRun(options: RunScenariosOptions): () => Promise<Results> {
  let run: Promise<Results> | undefined;
  return () => (run ??= runScenarios(options));
}

/** Throws, with the check's detail and its scenario's log, unless the check passed. */
export function expectPass(results: Results, name: string): void {
  const result = results.get(name);
  if (!result) throw new Error(`${name}: no result (list it in "expected" so a missing report fails clearly)`);
  if (!result.ok) throw new Error(describeFailure(name, result));
}

/** Generous per-test timeout: the first test of a run may download a kernel and boots the VM. */
export function testTimeoutMs(runTimeoutMs = DEFAULT_VM_TIMEOUT_MS): number {
  return runTimeoutMs + 600_000;
}

export interface KernelSuiteOptions extends Omit<RunScenariosOptions, "series" | "expected"> {
  /** Check names to register as tests (the scenario scripts are registered too). */
  checks: string[];
  /** Kernel series to boot, one VM each; default both. */
  kernels?: KernelSeries[];
  /** Added to each describe() title, e.g. "without bpf in lsm=". */
  label?: string;
}

/**
 * Registers, for each kernel series, a describe() with one test per check and per scenario script.
 * The first test boots the VM; the others read the same results.
 */
export function kernelSuite(options: KernelSuiteOptions): void {
  for (const series of options.kernels ?? KERNEL_SERIES) {
    const title = `kernel ${series}${options.label ? ` ${options.label}` : ""}`;
    describe(title, () => {
      const results = lazyRun({ ...options, series, expected: options.checks });
      const names = [...options.scenarios.map(scenarioName), ...options.checks, CONSOLE_CHECK];
      for (const name of new Set(names)) {
        test(name, async () => expectPass(await results(), name), testTimeoutMs(options.timeoutMs));
      }
    });
  }
}

const BOOT_RETRIES = 2;
const CLOCK_RETRIES = 1;

/** Seconds by which the guest's clock may lead the host's measure of the VM's life (QEMU starts first, so it never should). */
const CLOCK_SLACK_SECONDS = 30;

/**
 * When the guest kernel's clock ran ahead of the host's monotonic clock (its console timestamps
 * later than the VM's whole life on the host), the first such console line and how far ahead;
 * otherwise undefined. Not meaningful under counted time, where an idle guest skips ahead.
 */
export function guestClockAhead(boot: Pick<BootResult, "console" | "durationMs">): string | undefined {
  const limit = boot.durationMs / 1000 + CLOCK_SLACK_SECONDS;
  for (const line of serialLines(boot.console)) {
    const stamp = /^\[\s*(\d+\.\d+)\]/.exec(line);
    if (stamp && Number(stamp[1]) > limit) {
      return `guest time ${Number(stamp[1]).toFixed(0)} s after a VM life of ${(boot.durationMs / 1000).toFixed(0)} s: ${line.trim()}`;
    }
  }
  return undefined;
}

/** The guest kernel panicked or oopsed before /init started the first scenario. */
export function diedBeforeScenarios(boot: Pick<BootResult, "results" | "console">): boolean {
  return !boot.results.includes("BFTEST-LOG-BEGIN") && /Kernel panic|Oops:|BUG:|general protection fault/.test(boot.console);
}

/** A new file for one boot's console, named by time, kernel and scenarios; old ones are pruned. */
function newConsoleLog(series: KernelSeries, scenarios: string[]): string {
  mkdirSync(CONSOLE_LOG_DIR, { recursive: true });
  const old = readdirSync(CONSOLE_LOG_DIR).filter((f) => f.endsWith(".console")).sort();
  for (const f of old.slice(0, Math.max(0, old.length - CONSOLE_LOGS_KEPT + 1))) rmSync(join(CONSOLE_LOG_DIR, f), { force: true });
  const stamp = new Date().toISOString().replaceAll(":", "").replace(/\..*/, "");
  const what = scenarios.join("+").slice(0, 80);
  return join(CONSOLE_LOG_DIR, `${stamp}-${process.pid}-${series}-${what}.console`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
