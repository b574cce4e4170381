// Makes sure the host has what the kernel harness runs: QEMU, a static busybox, cpio, dpkg-deb, xz
// (Debian's 6.12 modules are .ko.xz), and the tools scenarios copy into the guest: mkfs.ext4 and
// fsverity. Missing ones are installed with apt-get (Debian package names below); the host's apt
// configuration is used as it is. Idempotent: when everything is present nothing runs.

import { existsSync, readFileSync } from "node:fs";
import { run, runAllowingFailure } from "./run.ts";

export const BUSYBOX_PATH = "/bin/busybox";
// Fixed paths rather than PATH look-ups: /sbin is not on every user's PATH.
export const MKFS_EXT4_PATH = "/sbin/mkfs.ext4";
export const FSVERITY_PATH = "/usr/bin/fsverity";

interface HostTool {
  description: string;
  /** Debian package that provides it. */
  package: string;
  isPresent: () => boolean;
}

const TOOLS: HostTool[] = [
  { description: "qemu-system-x86_64", package: "qemu-system-x86", isPresent: () => onPath("qemu-system-x86_64") },
  { description: `a static busybox at ${BUSYBOX_PATH}`, package: "busybox-static", isPresent: isStaticBusyboxPresent },
  { description: "cpio", package: "cpio", isPresent: () => onPath("cpio") },
  { description: "dpkg-deb", package: "dpkg", isPresent: () => onPath("dpkg-deb") },
  { description: "apt-get", package: "apt", isPresent: () => onPath("apt-get") },
  { description: "xz", package: "xz-utils", isPresent: () => onPath("xz") },
  { description: MKFS_EXT4_PATH, package: "e2fsprogs", isPresent: () => existsSync(MKFS_EXT4_PATH) },
  { description: FSVERITY_PATH, package: "fsverity", isPresent: () => existsSync(FSVERITY_PATH) },
];

let installed: Promise<void> | undefined;

/** Installs whatever the harness needs and the host lacks; later calls in the same process are free. */
export function ensureHostTools(): Promise<void> {
  installed ??= installMissingTools();
  return installed;
}

async function installMissingTools(): Promise<void> {
  const missing = TOOLS.filter((tool) => !tool.isPresent());
  if (missing.length === 0) return;

  const packages = [...new Set(missing.map((tool) => tool.package))];
  const what = missing.map((tool) => `${tool.description} (package ${tool.package})`).join(", ");
  if (!onPath("apt-get")) throw new Error(`Cannot install ${what}: apt-get is not available on this host`);
  if (process.getuid?.() !== 0) {
    throw new Error(`Missing ${what}: run "apt-get install -y ${packages.join(" ")}" as root`);
  }

  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!(await allHaveInstallCandidates(packages))) {
    await run(["apt-get", "update"], { env });
  }
  const install = await runAllowingFailure(["apt-get", "install", "-y", "--no-install-recommends", ...packages], { env });
  const stillMissing = missing.filter((tool) => !tool.isPresent());
  if (install.status !== 0 || stillMissing.length > 0) {
    const names = (stillMissing.length > 0 ? stillMissing : missing).map((tool) => tool.package);
    throw new Error(
      `Cannot install package ${[...new Set(names)].map((name) => `"${name}"`).join(", ")} ` +
        `with apt-get (status ${install.status}):\n${install.stderr.trim()}`,
    );
  }
}

async function allHaveInstallCandidates(packages: string[]): Promise<boolean> {
  const policy = await runAllowingFailure(["apt-cache", "policy", ...packages]);
  const candidates = [...policy.stdout.matchAll(/^\s+Candidate: (.*)$/gm)].map((match) => match[1]);
  return candidates.length === packages.length && candidates.every((candidate) => candidate !== "(none)");
}

function onPath(name: string): boolean {
  return Bun.which(name) !== null;
}

function isStaticBusyboxPresent(): boolean {
  return existsSync(BUSYBOX_PATH) && isStaticElf(BUSYBOX_PATH);
}

/** True for an ELF64 file without a PT_INTERP program header, i.e. one that needs no dynamic loader. */
export function isStaticElf(path: string): boolean {
  const bytes = readFileSync(path);
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const programHeaderOffset = Number(bytes.readBigUInt64LE(32));
  const programHeaderSize = bytes.readUInt16LE(54);
  const programHeaderCount = bytes.readUInt16LE(56);
  const PT_INTERP = 3;
  for (let i = 0; i < programHeaderCount; i++) {
    if (bytes.readUInt32LE(programHeaderOffset + i * programHeaderSize) === PT_INTERP) return false;
  }
  return true;
}
