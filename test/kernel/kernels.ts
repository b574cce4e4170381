// Fetches Debian's stock cloud kernels (newest 6.1 from bookworm, newest 6.12 from bookworm-backports)
// and caches their vmlinuz and config outside the checkout.
//
// apt runs with a private sources list, lists directory and cache directory under the cache root, so
// the host's own apt configuration and package lists are never changed. Once a series has been
// fetched, its marker file answers every later call without touching the network; set
// BOMFATHER_KERNEL_REFRESH=1 to look for a newer kernel again.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ensureHostTools } from "./host-tools.ts";
import { run, runAllowingFailure } from "./run.ts";

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

interface SeriesSource {
  suite: string;
  packagePattern: RegExp;
}

const SOURCES: Record<KernelSeries, SeriesSource> = {
  "6.1": { suite: "bookworm", packagePattern: /^linux-image-6\.1\..+-cloud-amd64-unsigned$/ },
  "6.12": { suite: "bookworm-backports", packagePattern: /^linux-image-6\.12\..+-cloud-amd64-unsigned$/ },
};

const SUITES = ["bookworm", "bookworm-backports"];
const DEFAULT_MIRROR = "http://deb.debian.org/debian";
const HOST_SOURCES = "/etc/apt/sources.list.d/debian.sources";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** Where kernels are cached: <cache root>/kernels, the cache root being $BOMFATHER_CACHE or ${XDG_CACHE_HOME:-$HOME/.cache}/bomfather (as in build.ts). */
export function kernelCacheRoot(): string {
  const root = process.env.BOMFATHER_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "bomfather");
  return join(root, "kernels");
}

// apt uses locks in its lists and cache directories: one fetch at a time within this process.
let queue: Promise<unknown> = Promise.resolve();
// The package lists are fetched at most once per process.
let listsUpdated = false;

/** Returns the cached kernel of a series, downloading it first if this machine has none. */
export function ensureKernel(series: KernelSeries): Promise<Kernel> {
  const next = queue.then(() => ensureKernelNow(series));
  queue = next.catch(() => undefined);
  return next;
}

async function ensureKernelNow(series: KernelSeries): Promise<Kernel> {
  const root = kernelCacheRoot();
  const marker = join(root, `${series}.json`);
  if (process.env.BOMFATHER_KERNEL_REFRESH !== "1") {
    const cached = readMarker(marker);
    if (cached) return cached;
  }

  await ensureHostTools();
  const apt = prepareApt(root);
  if (!listsUpdated) {
    try {
      await run(["apt-get", ...apt.options, "update"]);
    } catch (error) {
      throw new Error(`Cannot fetch the Debian package lists for the ${series} kernel: ${(error as Error).message}`);
    }
    listsUpdated = true;
  }
  const { name, version } = await findNewestPackage(apt.options, series);
  const kernel = await downloadAndExtract(root, apt.options, series, name, version);
  writeAtomically(marker, JSON.stringify(kernel, null, 2) + "\n");
  return kernel;
}

function readMarker(marker: string): Kernel | undefined {
  if (!existsSync(marker)) return undefined;
  const kernel = JSON.parse(readFileSync(marker, "utf8")) as Kernel;
  return existsSync(kernel.vmlinuz) && existsSync(kernel.config) ? kernel : undefined;
}

interface PrivateApt {
  options: string[];
}

function prepareApt(root: string): PrivateApt {
  const aptRoot = join(root, "apt");
  const sourcesList = join(aptRoot, "sources.list");
  const lists = join(aptRoot, "lists");
  const cache = join(aptRoot, "cache");
  mkdirSync(join(lists, "partial"), { recursive: true });
  mkdirSync(join(cache, "archives", "partial"), { recursive: true });

  const lines = hostMirrors().flatMap((mirror) =>
    SUITES.map((suite) => `deb [arch=amd64 signed-by=${KEYRING}] ${mirror} ${suite} main`),
  );
  writeFileSync(sourcesList, lines.join("\n") + "\n");

  const options = [
    ["Dir::Etc::sourcelist", sourcesList],
    ["Dir::Etc::sourceparts", "-"],
    ["Dir::State::Lists", lists],
    ["Dir::Cache", cache],
    ["Acquire::Languages", "none"],
    // Downloads land in our own directories; apt's _apt sandbox user may not be able to write there.
    ["APT::Sandbox::User", "root"],
  ].flatMap(([key, value]) => ["-o", `${key}=${value}`]);
  return { options };
}

/** The Debian (not security) mirror URIs the host's deb822 sources use, or deb.debian.org. */
function hostMirrors(): string[] {
  if (!existsSync(HOST_SOURCES)) return [DEFAULT_MIRROR];
  const mirrors: string[] = [];
  for (const stanza of readFileSync(HOST_SOURCES, "utf8").split(/\n\s*\n/)) {
    const field = (key: string) => stanza.match(new RegExp(`^${key}:\\s*(.+)$`, "mi"))?.[1]?.trim().split(/\s+/) ?? [];
    if (!field("Suites").includes("bookworm")) continue;
    for (const uri of field("URIs")) if (!mirrors.includes(uri)) mirrors.push(uri);
  }
  return mirrors.length > 0 ? mirrors : [DEFAULT_MIRROR];
}

async function findNewestPackage(aptOptions: string[], series: KernelSeries): Promise<{ name: string; version: string }> {
  const { suite, packagePattern } = SOURCES[series];
  const search = await run(["apt-cache", ...aptOptions, "search", "--names-only", packagePattern.source]);
  const names = search
    .split("\n")
    .map((line) => line.split(" - ")[0]?.trim() ?? "")
    .filter((name) => packagePattern.test(name));
  if (names.length === 0) {
    throw new Error(`No package matching ${packagePattern} found in Debian ${suite} (apt-cache search found none)`);
  }

  // madison lines: "<package> | <version> | <mirror> <suite>/main amd64 Packages"
  const madison = await run(["apt-cache", ...aptOptions, "madison", ...names]);
  const candidates = madison
    .split("\n")
    .map((line) => line.split("|").map((part) => part.trim()))
    .filter((parts) => parts.length === 3 && names.includes(parts[0]!) && parts[2]!.includes(` ${suite}/main `))
    .map(([name, version]) => ({ name: name!, version: version! }));
  if (candidates.length === 0) {
    throw new Error(`No ${series} cloud kernel in Debian ${suite}: found only ${names.join(", ")} in other suites`);
  }

  let newest = candidates[0]!;
  for (const candidate of candidates.slice(1)) {
    if (await isVersionGreater(candidate.version, newest.version)) newest = candidate;
  }
  return newest;
}

async function isVersionGreater(a: string, b: string): Promise<boolean> {
  const result = await runAllowingFailure(["dpkg", "--compare-versions", a, "gt", b]);
  return result.status === 0;
}

async function downloadAndExtract(
  root: string,
  aptOptions: string[],
  series: KernelSeries,
  name: string,
  version: string,
): Promise<Kernel> {
  const dir = join(root, `${name}_${version}`);
  const kernel: Kernel = { series, version, package: name, vmlinuz: join(dir, "vmlinuz"), config: join(dir, "config") };
  if (existsSync(kernel.vmlinuz) && existsSync(kernel.config)) return kernel;

  const work = mkdtempSync(join(root, ".download-"));
  try {
    try {
      await run(["apt-get", ...aptOptions, "download", `${name}=${version}`], { cwd: work });
    } catch (error) {
      throw new Error(`Cannot download ${name} ${version}: ${(error as Error).message}`);
    }
    const deb = readdirSync(work).find((file) => file.endsWith(".deb"));
    if (!deb) throw new Error(`Cannot download ${name} ${version}: apt-get download left no .deb file in ${work}`);

    const extracted = join(work, "root");
    await run(["dpkg-deb", "-x", join(work, deb), extracted]);
    const boot = join(extracted, "boot");
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
    return kernel;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}
