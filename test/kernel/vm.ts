// Boots a kernel and initramfs under QEMU in software emulation (TCG) and collects what it printed.
// ttyS0 is the kernel console (streamed to the host's stderr when BOMFATHER_VM_VERBOSE=1, and to a
// file as it arrives, so that a VM killed by its timeout leaves its whole console behind); ttyS1
// carries the test protocol (protocol.ts), written to a file so kernel messages never interleave.

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEFAULT_VM_TIMEOUT_MS = 120_000;
export const DEFAULT_LSM = "lockdown,capability,landlock,yama,bpf";
// Debian 12's QEMU 7.2 mis-emulates CMPXCHG16B under TCG: the 6.12 guest oopsed in most boots right
// after SLUB's `cmpxchg16b %gs:(%rsi)` (random crashes, double faults, garbage EFLAGS), with
// multi-threaded and single-threaded TCG, -smp 1 and 2, cpu max and qemu64. Without CX16 the kernel
// uses its fallback path and 6.12 booted 10 of 10 times; 6.1 is unaffected either way.
export const DEFAULT_CPU = "max,cx16=off";
const QEMU = "qemu-system-x86_64";

/**
 * One virtual CPU. With two, QEMU's multi-threaded TCG lets a CPU go on executing its translation of
 * kernel code that the other CPU has just patched. Linux patches a call site (a BPF trampoline
 * attached or detached, a static key switched) by writing an int3 first; a CPU running the stale
 * translation traps on an int3 that is no longer in memory, and either loops for ever (6.1:
 * kprobe_int3_handler finds no int3 and resumes at the same address: a soft lockup, every CPU's RIP
 * at the patched site) or oopses ("Oops: int3" on 6.12). Measured with no BPF program at all, by
 * switching a tracepoint on and off under exec load (scenarios/code-patching.sh): 6.1 locked up
 * within 25 s on QEMU 7.2 and 6.12 oopsed within 15 s on QEMU 10.0 with two CPUs; with one CPU, 3000
 * switches passed on both kernels. That was the soft lockup of `./dev bench`.
 */
export const VM_CPUS = 1;

/**
 * Kernel parameters of every boot. No `quiet`: the lockup detectors' stack traces are printed at
 * the default message level, which `quiet` hides. A soft lockup prints every CPU's stack and
 * panics, and so does a task hung for 120 s: the VM then stops at once (panic=-1 with
 * -no-reboot) instead of running into its timeout, and the console holds the traces.
 */
export const KERNEL_PARAMETERS = [
  "console=ttyS0",
  "panic=-1",
  "softlockup_all_cpu_backtrace=1",
  "softlockup_panic=1",
  "hung_task_panic=1",
];

/**
 * Kernel parameters of every boot in host time (not counted time): the guest keeps time by QEMU's
 * virtual clock (the host's CLOCK_MONOTONIC, through the emulated HPET), not by its TSC. Under TCG
 * the guest's TSC is the host CPU's own, and this machine's TSC is the physical host's: when the
 * sandbox is paused and resumed on another host, it jumps by days while CLOCK_MONOTONIC does not.
 * With the TSC as clocksource and sched_clock the guest then saw every deadline pass at once
 * (a scenario's 10 s wait failed instantly) and "soft lockup - CPU#0 stuck for 430604s" (a panic:
 * softlockup_panic=1). tsc=unstable makes the kernel pick the HPET and clamp sched_clock to it, a
 * tick at most ahead. Counted time needs none of this: there the TSC counts guest instructions.
 */
export const HOST_TIME_PARAMETERS = ["tsc=unstable"];

/**
 * QEMU's counted time for the bench: the guest's clock advances by 2^shift ns per guest instruction
 * executed, never with the host's clock, so what the guest times is a count of its own
 * instructions, whatever else the host is doing. sleep=off: an idle guest jumps to its next timer.
 */
export const ICOUNT = "shift=0,sleep=off";

export interface BootOptions {
  /** Path of the kernel image (vmlinuz). */
  kernel: string;
  /** Path of the uncompressed cpio archive. */
  initramfs: string;
  /** Value of the lsm= kernel parameter. */
  lsm?: string;
  /** QEMU -cpu value; default "max,cx16=off". */
  cpu?: string;
  /** Kernel parameters added after the defaults. */
  append?: string;
  /** qemu is killed after this long. Default 120 s. */
  timeoutMs?: number;
  memoryMb?: number;
  /** The whole kernel console is written to this file as it arrives. */
  consoleLog?: string;
  /** Counted time (QEMU -icount): see ICOUNT. */
  icount?: boolean;
}

export interface BootResult {
  /** Everything written on ttyS1 (the test protocol). */
  results: string;
  /** Everything written on ttyS0 (kernel console and /init's own messages). */
  console: string;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Set when the VM did not stop by itself with status 0: timeout, qemu error. */
  problem?: string;
  commandLine: string[];
}

export async function bootVM(options: BootOptions): Promise<BootResult> {
  if (!Bun.which(QEMU)) throw new Error(`Cannot boot the test VM: ${QEMU} not found (Debian package qemu-system-x86)`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_VM_TIMEOUT_MS;
  const append = [
    ...KERNEL_PARAMETERS,
    ...(options.icount ? [] : HOST_TIME_PARAMETERS),
    `lsm=${options.lsm ?? DEFAULT_LSM}`,
    options.append ?? "",
  ];

  const work = mkdtempSync(join(tmpdir(), "bomfather-vm-"));
  const resultsFile = join(work, "results.txt");
  const commandLine = [
    QEMU,
    ...["-accel", "tcg", "-cpu", options.cpu ?? DEFAULT_CPU, "-smp", String(VM_CPUS), "-m", String(options.memoryMb ?? 2048)],
    ...(options.icount ? ["-icount", ICOUNT] : []),
    ...["-nographic", "-no-reboot", "-monitor", "none"],
    ...["-serial", "stdio", "-serial", `file:${resultsFile}`],
    ...["-kernel", options.kernel, "-initrd", options.initramfs],
    ...["-append", append.join(" ").trim()],
  ];

  try {
    const started = performance.now();
    const vm = Bun.spawn(commandLine, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      vm.kill("SIGKILL");
    }, timeoutMs);

    const verbose = process.env.BOMFATHER_VM_VERBOSE === "1";
    const [consoleText, stderr, exitCode] = await Promise.all([
      collect(vm.stdout, verbose, options.consoleLog),
      new Response(vm.stderr).text(),
      vm.exited,
    ]);
    clearTimeout(timer);
    const durationMs = performance.now() - started;

    let problem: string | undefined;
    if (timedOut) problem = `the VM was killed after ${timeoutMs / 1000} s without powering off`;
    else if (exitCode !== 0) problem = `${QEMU} exited with status ${exitCode}: ${stderr.trim() || "no message"}`;

    let results = "";
    try {
      results = readFileSync(resultsFile, "utf8");
    } catch {
      problem ??= "the VM never opened its results serial port";
    }
    return { results, console: consoleText, exitCode, timedOut, durationMs, problem, commandLine };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function collect(stream: ReadableStream<Uint8Array>, echo: boolean, file?: string): Promise<string> {
  const decoder = new TextDecoder();
  const fd = file === undefined ? undefined : openSync(file, "w");
  let text = "";
  try {
    for await (const chunk of stream) {
      if (fd !== undefined) writeSync(fd, chunk);
      const part = decoder.decode(chunk, { stream: true });
      if (echo) process.stderr.write(part);
      text += part;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return text + decoder.decode();
}

/**
 * What the guest kernel reported going wrong: soft lockups, RCU stalls, hung tasks, oopses,
 * panics, BUGs and WARNINGs. One line each (the first line of each report); the console file
 * holds the stack traces. A test run whose console has any of these fails.
 */
export function consoleProblems(console: string): string[] {
  const problems: string[] = [];
  for (const line of serialLines(console)) {
    if (CONSOLE_PROBLEM.test(line)) problems.push(line.trim());
  }
  return problems;
}

/** The lines a serial port carried (the console, or the results port), without carriage returns. */
export function serialLines(text: string): string[] {
  return text.replaceAll("\r", "").split("\n");
}

const CONSOLE_PROBLEM = new RegExp(
  [
    String.raw`\bBUG: `, // soft lockup, sleeping in atomic context, bad page state, KASAN...
    String.raw`\bWARNING: `, // WARN_ON and lockdep
    String.raw`rcu: INFO: .*stall`,
    String.raw`rcu_\w+ (?:self-)?detected (?:expedited )?stalls?`,
    String.raw`blocked for more than \d+ seconds`,
    String.raw`\bOops\b`,
    String.raw`general protection fault`,
    String.raw`Kernel panic`,
    String.raw`\bcut here\b`,
  ].join("|"),
);
