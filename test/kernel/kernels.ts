// Fetches Debian's stock cloud kernels (newest 6.1 from bookworm, newest 6.12 from bookworm-backports)
// and caches their vmlinuz, config and the few modules the guest needs (GUEST_MODULES, decompressed)
// outside the checkout, with the private apt of debian.ts. Once a series has been fetched, its marker
// file answers every later call without touching the network; set BOMFATHER_KERNEL_REFRESH=1 to look
// for a newer kernel again.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { cacheRoot, downloadAndExtract, newestPackage, withApt, type Suite } from "./debian.ts";
import type { GuestFile } from "./initramfs.ts";
import { runAllowingFailure } from "./run.ts";

export type KernelSeries = "6.1" | "6.12";
export const KERNEL_SERIES: KernelSeries[] = ["6.1", "6.12"];

export interface Kernel {
  series: KernelSeries;
  /** Debian package version, e.g. "6.1.176-1". */
  version: string;
  /** Debian package name, e.g. "linux-image-6.1.0-50-cloud-amd64-unsigned". */
  package: string;
  vmlinuz: string;
  config: string;
  /** `uname -r` of this kernel, e.g. "6.1.0-50-cloud-amd64". */
  release: string;
  /**
   * A copy of the package's /lib/modules/<release> holding only the modules kept (decompressed),
   * with modules.dep and modules.builtin; every boot puts it at /lib/modules/<release> in the guest.
   */
  modules: string;
  /** The modules asked for when it was filled (GUEST_MODULES then). */
  moduleNames: string[];
}

/**
 * Modules the guest may load, with what they depend on. Debian's cloud kernels build loop as a
 * module (CONFIG_BLK_DEV_LOOP=m), and ext4 with fs-verity in (CONFIG_EXT4_FS=y, CONFIG_FS_VERITY=y,
 * crc16, crc32c, jbd2 and mbcache too): loop is all scenarios need to make a verity file system.
 * overlay: an overlay mount of a protected directory (scenarios/dirs.sh). vfat and the code pages
 * it asks for by default: a FAT file system, whose inode numbers do not last (scenarios/naming.sh).
 * A name the kernel has built in is skipped (it is in modules.builtin).
 */
export const GUEST_MODULES = ["loop", "overlay", "vfat", "nls_cp437", "nls_ascii"];

const SOURCES: Record<KernelSeries, { suite: Suite; packagePattern: RegExp }> = {
  "6.1": { suite: "bookworm", packagePattern: /^linux-image-6\.1\..+-cloud-amd64-unsigned$/ },
  "6.12": { suite: "bookworm-backports", packagePattern: /^linux-image-6\.12\..+-cloud-amd64-unsigned$/ },
};

/** Where kernels are cached: <cache root>/kernels (see debian.ts cacheRoot). */
export function kernelCacheRoot(): string {
  return join(cacheRoot(), "kernels");
}

/** Returns the cached kernel of a series, downloading it first if this machine has none. */
export async function ensureKernel(series: KernelSeries): Promise<Kernel> {
  const root = kernelCacheRoot();
  const marker = join(root, `${series}.json`);
  const refresh = process.env.BOMFATHER_KERNEL_REFRESH === "1";
  const cached = readMarker(marker);
  if (!refresh && cached && isComplete(cached)) return cached;
  return withApt(async (apt) => {
    const { suite, packagePattern } = SOURCES[series];
    // A cache filled before the modules were kept (or with other ones) is completed from the same
    // package while Debian still has it, so the kernel under test does not change unasked.
    const { name, version } =
      !refresh && cached && (await isAvailable(apt, cached.package, cached.version))
        ? { name: cached.package, version: cached.version }
        : await newestPackage(apt, suite, packagePattern);
    const dir = join(root, `${name}_${version}`);
    let kernel = readMarker(join(dir, "kernel.json"));
    if (!kernel || !isComplete(kernel)) {
      const work = await downloadAndExtract(apt, root, [{ name, version }]);
      try {
        const boot = join(work, "root", "boot");
        const bootFiles = existsSync(boot) ? readdirSync(boot) : [];
        const vmlinuz = bootFiles.find((file) => file.startsWith("vmlinuz-"));
        const config = bootFiles.find((file) => file.startsWith("config-"));
        if (!vmlinuz || !config) {
          throw new Error(`Package ${name} ${version} has no /boot/vmlinuz-* or /boot/config-* (found: ${bootFiles.join(", ") || "nothing"})`);
        }
        const release = vmlinuz.slice("vmlinuz-".length);
        const staged = join(work, "kernel");
        mkdirSync(staged);
        copyFileSync(join(boot, vmlinuz), join(staged, "vmlinuz"));
        copyFileSync(join(boot, config), join(staged, "config"));
        const modules = packageModules(join(work, "root"), release);
        if (!modules) throw new Error(`Package ${name} ${version} has no /lib/modules/${release}`);
        await keepModules(modules, join(staged, "modules"), GUEST_MODULES, `${name} ${version}`);
        kernel = {
          series,
          version,
          package: name,
          vmlinuz: join(dir, "vmlinuz"),
          config: join(dir, "config"),
          release,
          modules: join(dir, "modules"),
          moduleNames: GUEST_MODULES,
        };
        // The directory's own marker: the series marker below may name another package.
        writeFileSync(join(staged, "kernel.json"), JSON.stringify(kernel, null, 2) + "\n");
        rmSync(dir, { recursive: true, force: true });
        renameSync(staged, dir);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
    writeAtomically(marker, JSON.stringify(kernel, null, 2) + "\n");
    return kernel;
  });
}

function readMarker(marker: string): Kernel | undefined {
  if (!existsSync(marker)) return undefined;
  const kernel = JSON.parse(readFileSync(marker, "utf8")) as Kernel;
  return existsSync(kernel.vmlinuz) && existsSync(kernel.config) ? kernel : undefined;
}

/** The cache holds everything this version of the harness puts into the guest. */
function isComplete(kernel: Kernel): boolean {
  return (
    typeof kernel.release === "string" &&
    typeof kernel.modules === "string" &&
    existsSync(join(kernel.modules, "modules.dep")) &&
    GUEST_MODULES.every((module) => kernel.moduleNames?.includes(module))
  );
}

async function isAvailable(apt: string[], name: string, version: string): Promise<boolean> {
  const madison = await runAllowingFailure(["apt-cache", ...apt, "madison", name]);
  return madison.stdout.split("\n").some((line) => line.split("|")[1]?.trim() === version);
}

/** The kernel's modules, as /lib/modules/<release>/... guest files (harness.ts adds them to every boot). */
export function guestModuleFiles(kernel: Kernel): GuestFile[] {
  return walk(kernel.modules).map((host) => ({ host, guest: `/lib/modules/${kernel.release}/${relative(kernel.modules, host)}`, mode: 0o644 }));
}

/** /lib/modules/<release> of an extracted package (usrmerged packages use /usr/lib/modules). */
function packageModules(root: string, release: string): string | undefined {
  return [join(root, "lib", "modules", release), join(root, "usr", "lib", "modules", release)].find((dir) => existsSync(dir));
}

/**
 * Copies the named modules and every module they depend on (the "depends=" of their .modinfo) from
 * a package's /lib/modules/<release> to out, decompressed (busybox insmod reads only plain ELF),
 * and writes out/modules.dep in depmod's format and the package's modules.builtin. Names the kernel
 * has built in are skipped.
 */
async function keepModules(from: string, out: string, names: string[], what: string): Promise<void> {
  const builtinList = join(from, "modules.builtin");
  const builtin = new Set(
    existsSync(builtinList)
      ? readFileSync(builtinList, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((path) => moduleName(path))
      : [],
  );
  const index = new Map(walk(join(from, "kernel")).map((path) => [moduleName(path), path] as const));
  const kept = new Map<string, { path: string; depends: string[] }>();

  const keep = async (name: string, wantedBy: string[]): Promise<void> => {
    name = name.replaceAll("-", "_");
    if (kept.has(name) || builtin.has(name)) return;
    const source = index.get(name);
    if (!source) throw new Error(`Package ${what} has no module "${name}"${wantedBy.length ? ` (needed by ${wantedBy.join(" <- ")})` : ""} and does not build it in`);
    const path = relative(from, source).replace(/\.(xz|zst|gz)$/, "");
    const elf = await decompress(source);
    const depends = modinfo(elf, source)
      .filter((field) => field.startsWith("depends="))
      .flatMap((field) => field.slice("depends=".length).split(","))
      .filter(Boolean)
      .map((dep) => dep.replaceAll("-", "_"));
    kept.set(name, { path, depends });
    mkdirSync(dirname(join(out, path)), { recursive: true });
    writeFileSync(join(out, path), elf);
    for (const dep of depends) await keep(dep, [name, ...wantedBy]);
  };
  mkdirSync(out, { recursive: true });
  for (const name of names) await keep(name, []);

  // depmod's format: every module a module needs, directly or not, listed so that loading them from
  // the last to the first works (dependencies before what needs them).
  const lines = [...kept.entries()].map(([name, { path }]) => {
    const order: string[] = [];
    const seen = new Set([name]);
    const visit = (module: string) => {
      for (const dep of kept.get(module)?.depends ?? []) {
        if (seen.has(dep) || !kept.has(dep)) continue;
        seen.add(dep);
        visit(dep);
        order.push(dep);
      }
    };
    visit(name);
    return `${path}:${order.reverse().map((dep) => ` ${kept.get(dep)?.path}`).join("")}`;
  });
  writeFileSync(join(out, "modules.dep"), lines.sort().join("\n") + "\n");
  if (existsSync(builtinList)) copyFileSync(builtinList, join(out, "modules.builtin"));
}

/** "kernel/drivers/block/loop.ko.xz" -> "loop"; module names use "_" where file names may use "-". */
function moduleName(path: string): string {
  return path.replace(/^.*\//, "").replace(/\.ko(\.(xz|zst|gz))?$/, "").replaceAll("-", "_");
}

async function decompress(path: string): Promise<Buffer> {
  if (!/\.(xz|zst|gz)$/.test(path)) return readFileSync(path);
  if (!path.endsWith(".xz")) throw new Error(`Cannot decompress the kernel module ${path}: only .xz is supported (Debian's compression)`);
  const xz = Bun.spawn(["xz", "-dc", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [data, stderr, status] = await Promise.all([new Response(xz.stdout).arrayBuffer(), new Response(xz.stderr).text(), xz.exited]);
  if (status !== 0) throw new Error(`Cannot decompress the kernel module ${path}: xz -dc exited with status ${status}: ${stderr.trim()}`);
  return Buffer.from(data);
}

/** The NUL-separated "key=value" strings of an ELF64 module's .modinfo section. */
function modinfo(elf: Buffer, path: string): string[] {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new Error(`${path} is not an ELF64 kernel module`);
  const sectionsAt = Number(elf.readBigUInt64LE(0x28));
  const sectionSize = elf.readUInt16LE(0x3a);
  const sectionCount = elf.readUInt16LE(0x3c);
  const header = (i: number) => sectionsAt + i * sectionSize;
  const names = Number(elf.readBigUInt64LE(header(elf.readUInt16LE(0x3e)) + 0x18));
  for (let i = 0; i < sectionCount; i++) {
    const nameAt = names + elf.readUInt32LE(header(i));
    if (elf.toString("latin1", nameAt, elf.indexOf(0, nameAt)) !== ".modinfo") continue;
    const offset = Number(elf.readBigUInt64LE(header(i) + 0x18));
    const size = Number(elf.readBigUInt64LE(header(i) + 0x20));
    return elf.toString("latin1", offset, offset + size).split("\0").filter(Boolean);
  }
  throw new Error(`${path} has no .modinfo section`);
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

export function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}
