// Fetches Debian's stock cloud kernels (newest 6.1 from bookworm, newest 6.12 from bookworm-backports)
// and caches their vmlinuz and config outside the checkout, with the private apt of debian.ts. Once a
// series has been fetched, its marker file answers every later call without touching the network; set
// BOMFATHER_KERNEL_REFRESH=1 to look for a newer kernel again.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot, downloadAndExtract, newestPackage, withApt, type Suite } from "./debian.ts";

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
}

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
  if (process.env.BOMFATHER_KERNEL_REFRESH !== "1") {
    const cached = readMarker(marker);
    if (cached) return cached;
  }
  return withApt(async (apt) => {
    const { suite, packagePattern } = SOURCES[series];
    const { name, version } = await newestPackage(apt, suite, packagePattern);
    const dir = join(root, `${name}_${version}`);
    const kernel: Kernel = { series, version, package: name, vmlinuz: join(dir, "vmlinuz"), config: join(dir, "config") };
    if (!existsSync(kernel.vmlinuz) || !existsSync(kernel.config)) {
      const work = await downloadAndExtract(apt, root, [{ name, version }]);
      try {
        const boot = join(work, "root", "boot");
        const bootFiles = existsSync(boot) ? readdirSync(boot) : [];
        const vmlinuz = bootFiles.find((file) => file.startsWith("vmlinuz-"));
        const config = bootFiles.find((file) => file.startsWith("config-"));
        if (!vmlinuz || !config) {
          throw new Error(`Package ${name} ${version} has no /boot/vmlinuz-* or /boot/config-* (found: ${bootFiles.join(", ") || "nothing"})`);
        }
        const staged = join(work, "kernel");
        mkdirSync(staged);
        copyFileSync(join(boot, vmlinuz), join(staged, "vmlinuz"));
        copyFileSync(join(boot, config), join(staged, "config"));
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

export function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}
