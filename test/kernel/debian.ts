// Debian packages fetched with a private apt: a sources list (bookworm and bookworm-backports), lists
// directory and cache directory under the cache root, so the host's own apt configuration and
// package lists are never changed. Used for the kernels (kernels.ts).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ensureHostTools } from "./host-tools.ts";
import { run, runAllowingFailure } from "./run.ts";

export type Suite = "bookworm" | "bookworm-backports";
const SUITES: Suite[] = ["bookworm", "bookworm-backports"];
const DEFAULT_MIRROR = "http://deb.debian.org/debian";
const HOST_SOURCES = "/etc/apt/sources.list.d/debian.sources";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** $BOMFATHER_CACHE or ${XDG_CACHE_HOME:-$HOME/.cache}/bomfather (as in build.ts). */
export function cacheRoot(): string {
  return process.env.BOMFATHER_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "bomfather");
}

// apt uses locks in its lists and cache directories: one apt run at a time within this process.
let queue: Promise<unknown> = Promise.resolve();
// The package lists are fetched at most once per process.
let listsUpdated = false;

/** Runs fn with apt options for the private configuration, one caller at a time. */
export function withApt<T>(fn: (apt: string[]) => Promise<T>): Promise<T> {
  const next = queue.then(async () => fn(await privateApt()));
  queue = next.catch(() => undefined);
  return next;
}

async function privateApt(): Promise<string[]> {
  await ensureHostTools();
  const aptRoot = join(cacheRoot(), "kernels", "apt");
  const sourcesList = join(aptRoot, "sources.list");
  const lists = join(aptRoot, "lists");
  const cache = join(aptRoot, "cache");
  mkdirSync(join(lists, "partial"), { recursive: true });
  mkdirSync(join(cache, "archives", "partial"), { recursive: true });
  const lines = hostMirrors().flatMap((mirror) => SUITES.map((suite) => `deb [arch=amd64 signed-by=${KEYRING}] ${mirror} ${suite} main`));
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
  if (!listsUpdated) {
    try {
      await run(["apt-get", ...options, "update"]);
    } catch (error) {
      throw new Error(`Cannot fetch the Debian package lists: ${(error as Error).message}`);
    }
    listsUpdated = true;
  }
  return options;
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

/** The newest version of a package among those matching pattern, in suite. */
export async function newestPackage(apt: string[], suite: Suite, pattern: RegExp): Promise<{ name: string; version: string }> {
  const search = await run(["apt-cache", ...apt, "search", "--names-only", pattern.source]);
  const names = search
    .split("\n")
    .map((line) => line.split(" - ")[0]?.trim() ?? "")
    .filter((name) => pattern.test(name));
  if (names.length === 0) throw new Error(`No package matching ${pattern} found in Debian ${suite} (apt-cache search found none)`);

  // madison lines: "<package> | <version> | <mirror> <suite>/main amd64 Packages"
  const madison = await run(["apt-cache", ...apt, "madison", ...names]);
  const candidates = madison
    .split("\n")
    .map((line) => line.split("|").map((part) => part.trim()))
    .filter((parts) => parts.length === 3 && names.includes(parts[0]!) && parts[2]!.includes(` ${suite}/main `))
    .map(([name, version]) => ({ name: name!, version: version! }));
  if (candidates.length === 0) throw new Error(`No package matching ${pattern} in Debian ${suite}: found only ${names.join(", ")} in other suites`);
  let newest = candidates[0]!;
  for (const candidate of candidates.slice(1)) {
    if ((await runAllowingFailure(["dpkg", "--compare-versions", candidate.version, "gt", newest.version])).status === 0) newest = candidate;
  }
  return newest;
}

/** Downloads name=version for each package into a new directory under dir and extracts them all into <that>/root. */
export async function downloadAndExtract(apt: string[], dir: string, packages: { name: string; version: string }[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, ".download-"));
  const specs = packages.map((p) => `${p.name}=${p.version}`);
  try {
    await run(["apt-get", ...apt, "download", ...specs], { cwd: work });
  } catch (error) {
    throw new Error(`Cannot download ${specs.join(", ")}: ${(error as Error).message}`);
  }
  const debs = readdirSync(work).filter((file) => file.endsWith(".deb"));
  if (debs.length !== packages.length) throw new Error(`Cannot download ${specs.join(", ")}: apt-get download left ${debs.join(", ") || "no .deb file"} in ${work}`);
  const root = join(work, "root");
  for (const deb of debs) await run(["dpkg-deb", "-x", join(work, deb), root]);
  return work;
}
