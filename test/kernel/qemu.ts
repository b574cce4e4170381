// The emulator the VMs run on: QEMU from bookworm-backports (10.0 today), fetched with the private apt
// of debian.ts into the cache and run from there; the host's own qemu-system-x86 package (7.2) only
// brings the shared libraries and the SeaBIOS firmware that it needs.
//
// Why not Debian 12's own QEMU 7.2: under multi-threaded TCG it keeps running stale translations of
// kernel code that another virtual CPU has just patched. When Linux patches a call site (a BPF
// trampoline being attached or detached, a static key being switched) it first writes an int3 there;
// a CPU that still executes the old translation with the int3 after the patch is complete traps,
// kprobe_int3_handler sees no int3 in memory any more and resumes at the same address, and the CPU
// loops there forever: a soft lockup with every CPU's RIP at the patched site, whose bytes no longer
// hold an int3. It needs no BPF program at all: switching a tracepoint on and off under exec load
// locks 6.1 up within a minute on QEMU 7.2 and never on 10.0 (see test/kernel/README.md).

import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot, downloadAndExtract, newestPackage, withApt } from "./debian.ts";
import { writeAtomically } from "./kernels.ts";
import { runAllowingFailure } from "./run.ts";

export interface Qemu {
  /** Debian package version, e.g. "1:10.0.2+ds-2+deb13u1~bpo12+1". */
  version: string;
  binary: string;
  /** Directory of QEMU's own firmware files (its -L). */
  firmware: string;
}

const PACKAGES = ["qemu-system-x86", "qemu-system-common", "qemu-system-data"];

let cached: Promise<Qemu> | undefined;

/** The cached QEMU, downloaded first if this machine has none. BOMFATHER_QEMU_REFRESH=1 looks for a newer one. */
export function ensureQemu(): Promise<Qemu> {
  cached ??= ensureQemuNow();
  return cached;
}

async function ensureQemuNow(): Promise<Qemu> {
  const root = join(cacheRoot(), "qemu");
  const marker = join(root, "qemu.json");
  if (process.env.BOMFATHER_QEMU_REFRESH !== "1" && existsSync(marker)) {
    const qemu = JSON.parse(readFileSync(marker, "utf8")) as Qemu;
    if (existsSync(qemu.binary)) return qemu;
  }
  const qemu = await withApt(async (apt) => {
    const { version } = await newestPackage(apt, "bookworm-backports", /^qemu-system-x86$/);
    const dir = join(root, version.replace(/[^\w.+~-]/g, "_"));
    const qemu: Qemu = { version, binary: join(dir, "usr", "bin", "qemu-system-x86_64"), firmware: join(dir, "usr", "share", "qemu") };
    if (!existsSync(qemu.binary)) {
      const work = await downloadAndExtract(apt, root, PACKAGES.map((name) => ({ name, version })));
      try {
        rmSync(dir, { recursive: true, force: true });
        renameSync(join(work, "root"), dir);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
    return qemu;
  });
  const probe = await runAllowingFailure([qemu.binary, "--version"]);
  if (probe.status !== 0) {
    throw new Error(
      `Cannot run QEMU ${qemu.version} from bookworm-backports (${qemu.binary}): ${(probe.stderr || probe.stdout).trim()}\n` +
        "hint: apt-get install qemu-system-x86 brings the libraries it needs",
    );
  }
  writeAtomically(marker, JSON.stringify(qemu, null, 2) + "\n");
  return qemu;
}
