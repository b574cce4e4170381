// Boots a kernel and initramfs under QEMU in software emulation (TCG) and collects what it printed.
// ttyS0 is the kernel console (streamed to the host's stderr when BOMFATHER_VM_VERBOSE=1); ttyS1
// carries the test protocol (protocol.ts), written to a file so kernel messages never interleave.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
  const append = ["console=ttyS0", "quiet", "panic=-1", `lsm=${options.lsm ?? DEFAULT_LSM}`, options.append ?? ""];

  const work = mkdtempSync(join(tmpdir(), "bomfather-vm-"));
  const resultsFile = join(work, "results.txt");
  const commandLine = [
    QEMU,
    ...["-accel", "tcg", "-cpu", options.cpu ?? DEFAULT_CPU, "-smp", "2", "-m", String(options.memoryMb ?? 2048)],
    ...["-nographic", "-no-reboot", "-monitor", "none"],
    ...["-serial", "stdio", "-serial", `file:${resultsFile}`],
    ...["-kernel", options.kernel, "-initrd", options.initramfs],
    ...["-append", append.join(" ").trim()],
  ];

  try {
    const started = performance.now();
    const qemu = Bun.spawn(commandLine, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill("SIGKILL");
    }, timeoutMs);

    const verbose = process.env.BOMFATHER_VM_VERBOSE === "1";
    const [consoleText, stderr, exitCode] = await Promise.all([
      collect(qemu.stdout, verbose),
      new Response(qemu.stderr).text(),
      qemu.exited,
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

async function collect(stream: ReadableStream<Uint8Array>, echo: boolean): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    const part = decoder.decode(chunk, { stream: true });
    if (echo) process.stderr.write(part);
    text += part;
  }
  return text + decoder.decode();
}
