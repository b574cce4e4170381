// Builds dist/bomfather: one executable holding the agent, the C shim and the BPF objects.
//
//   1. native libraries: libbpf, libelf and zlib as PIC static archives, built from Debian's
//      source packages (Debian ships them without -fPIC) and cached outside the checkout;
//   2. bpf/vmlinux.h for CO-RE, from this machine's kernel BTF;
//   3. the BPF objects with clang (BTF kept, DWARF stripped);
//   4. the shim .build/libbomfather.so, linking the three archives statically;
//   5. `bun build --compile` of src/cli.ts, which embeds 3 and 4.
//
// Run with `./dev build` (or `bun build.ts`). Every step is skipped when its output is newer
// than its inputs.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { homedir } from "node:os";

const root = import.meta.dir;
const out = join(root, ".build");
const dist = join(root, "dist");
const cacheRoot = process.env.BOMFATHER_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "bomfather");

// The source packages (Debian bookworm) the native archives are built from. Bump together.
const NATIVE = { libbpf: "libbpf", elfutils: "elfutils", zlib: "zlib" } as const;
const NATIVE_CACHE_VERSION = "bookworm-1"; // change to force a rebuild of the archives

// Tools the build needs, and the Debian package that provides each.
const TOOLS: Record<string, string> = {
  clang: "clang",
  "llvm-strip": "llvm",
  bpftool: "bpftool",
  gcc: "gcc",
  make: "make",
  "dpkg-source": "dpkg-dev",
  "apt-get": "apt",
};

class BuildError extends Error {}

function sh(cmd: string[], opts: { cwd?: string; quiet?: boolean; env?: Record<string, string> } = {}): string {
  const p = Bun.spawnSync(cmd, {
    cwd: opts.cwd ?? root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const stdout = p.stdout.toString();
  if (p.exitCode !== 0) {
    const stderr = p.stderr.toString();
    throw new BuildError(`Command failed (exit ${p.exitCode}): ${cmd.join(" ")}\n${(stdout + stderr).trim().split("\n").slice(-40).join("\n")}`);
  }
  return stdout;
}

function step(name: string): void {
  if (!process.env.BOMFATHER_QUIET) console.error(`build: ${name}`);
}

function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    const s = statSync(p);
    if (s.isDirectory()) t = Math.max(t, newest(readdirSync(p).map((f) => join(p, f))));
    else t = Math.max(t, s.mtimeMs);
  }
  return t;
}

function upToDate(output: string, inputs: string[]): boolean {
  return existsSync(output) && statSync(output).mtimeMs >= newest(inputs);
}

function checkTools(): void {
  const missing = Object.entries(TOOLS).filter(([tool]) => !Bun.which(tool));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(" ");
    throw new BuildError(
      `Missing build tools: ${missing.map(([t]) => `"${t}"`).join(", ")}\nhint: apt-get install -y ${pkgs}  (./dev does this for you)`,
    );
  }
}

// ---------------------------------------------------------------- native archives

/** apt-get with a private sources list, so the host's apt configuration is never changed. */
function privateApt(dir: string): string[] {
  const list = join(dir, "sources.list");
  if (!existsSync(list)) {
    mkdirSync(join(dir, "lists", "partial"), { recursive: true });
    mkdirSync(join(dir, "archives", "partial"), { recursive: true });
    writeFileSync(
      list,
      `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${debianMirror()} bookworm main\n`,
    );
  }
  return [
    "-o", `Dir::Etc::sourcelist=${list}`,
    "-o", "Dir::Etc::sourceparts=-",
    "-o", `Dir::State::Lists=${join(dir, "lists")}`,
    "-o", `Dir::Cache=${dir}`,
    "-o", "APT::Sandbox::User=root",
    "-o", "APT::Get::List-Cleanup=0",
  ];
}

/** The Debian mirror this host already uses (deb822 or one-line format). */
export function debianMirror(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    const m = text.match(/^URIs:\s*(\S+\/debian)\/?\s*$/m) ?? text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m);
    if (m?.[1]) return m[1];
  }
  return "http://deb.debian.org/debian";
}

export function buildNative(): { include: string; libs: string[] } {
  const dir = join(cacheRoot, "native", NATIVE_CACHE_VERSION);
  const prefix = join(dir, "prefix");
  const libs = ["libbpf.a", "libelf.a", "libz.a"].map((l) => join(prefix, "lib", l));
  const include = join(prefix, "include");
  if (libs.every(existsSync)) return { include, libs };

  step(`native archives (first build only, cached in ${dir})`);
  const aptDir = join(cacheRoot, "apt-src");
  const apt = privateApt(aptDir);
  sh(["apt-get", ...apt, "-qq", "update"]);
  const work = join(dir, "work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  sh(["apt-get", ...apt, "-qq", "--download-only", "source", NATIVE.libbpf, NATIVE.elfutils, NATIVE.zlib], { cwd: work });
  for (const dsc of readdirSync(work).filter((f) => f.endsWith(".dsc"))) {
    sh(["dpkg-source", "-q", "--no-check", "-x", dsc], { cwd: work });
  }
  const srcOf = (name: string) => {
    const d = readdirSync(work).find((f) => f.startsWith(`${name}-`) && statSync(join(work, f)).isDirectory());
    if (!d) throw new BuildError(`Source package ${name} did not unpack in ${work}`);
    return join(work, d);
  };
  mkdirSync(join(prefix, "lib"), { recursive: true });
  mkdirSync(include, { recursive: true });
  const cflags = "-O2 -fPIC -g0";

  const zlib = srcOf("zlib");
  sh(["sh", "-c", `CFLAGS="${cflags}" ./configure --static >/dev/null && make -j2 libz.a >/dev/null`], { cwd: zlib });
  sh(["cp", join(zlib, "libz.a"), join(prefix, "lib")]);
  sh(["cp", join(zlib, "zlib.h"), join(zlib, "zconf.h"), include]);

  const elf = srcOf("elfutils");
  sh(
    ["sh", "-c",
      `./configure --disable-debuginfod --disable-libdebuginfod --without-zstd --without-bzlib --without-lzma --disable-nls ` +
      `CFLAGS="${cflags} -I${include}" LDFLAGS="-L${join(prefix, "lib")}" >/dev/null && make -j2 -C lib >/dev/null && make -j2 -C libelf libelf.a >/dev/null`],
    { cwd: elf },
  );
  sh(["cp", join(elf, "libelf", "libelf.a"), join(prefix, "lib")]);
  sh(["cp", join(elf, "libelf", "libelf.h"), join(elf, "libelf", "gelf.h"), join(elf, "libelf", "nlist.h"), include]);

  const bpf = join(srcOf("libbpf"), "src");
  const obj = join(work, "libbpf-obj");
  mkdirSync(obj, { recursive: true });
  sh(["make", "-j2", "BUILD_STATIC_ONLY=1", `OBJDIR=${obj}`, `EXTRA_CFLAGS=${cflags} -I${include}`], { cwd: bpf });
  sh(["make", "install_headers", `DESTDIR=${prefix}`, "PREFIX=", "INCLUDEDIR=/include"], { cwd: bpf });
  sh(["cp", join(obj, "libbpf.a"), join(prefix, "lib")]);
  rmSync(work, { recursive: true, force: true });
  return { include, libs };
}

// ---------------------------------------------------------------- BPF and shim

export function vmlinuxHeader(): string {
  const header = join(out, "vmlinux.h");
  if (existsSync(header)) return header;
  const btf = "/sys/kernel/btf/vmlinux";
  if (!existsSync(btf)) {
    throw new BuildError(`Cannot generate vmlinux.h: ${btf} does not exist\nhint: build on a kernel with CONFIG_DEBUG_INFO_BTF=y (Debian's kernels have it)`);
  }
  step("vmlinux.h from this kernel's BTF");
  const text = sh(["bpftool", "btf", "dump", "file", btf, "format", "c"]);
  writeFileSync(header + ".tmp", text);
  renameSync(header + ".tmp", header);
  return header;
}

function buildBpf(name: string, include: string): string {
  const src = join(root, "bpf", `${name}.bpf.c`);
  const obj = join(out, `${name}.bpf.o`);
  const headers = readdirSync(join(root, "bpf")).filter((f) => f.endsWith(".h")).map((f) => join(root, "bpf", f));
  if (upToDate(obj, [src, ...headers])) return obj;
  step(`bpf/${name}.bpf.c`);
  sh([
    "clang", "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror",
    `-I${out}`, `-I${include}`, `-I${join(root, "bpf")}`,
    "-c", src, "-o", obj,
  ]);
  sh(["llvm-strip", "-g", obj]); // DWARF out, BTF and BTF.ext stay
  return obj;
}

function buildShim(native: { include: string; libs: string[] }): string {
  const src = join(root, "ffi", "shim.c");
  const so = join(out, "libbomfather.so");
  if (upToDate(so, [src, join(root, "bpf", "bomfather.h"), ...native.libs])) return so;
  step("ffi/shim.c -> libbomfather.so");
  const versionScript = join(out, "shim.map");
  writeFileSync(versionScript, "{ global: bf_*; local: *; };\n");
  sh([
    "gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
    `-I${native.include}`, src, "-o", so,
    ...native.libs.filter((l) => l.endsWith("libbpf.a")),
    ...native.libs.filter((l) => l.endsWith("libelf.a")),
    ...native.libs.filter((l) => l.endsWith("libz.a")),
    `-Wl,--version-script=${versionScript}`, "-Wl,--no-undefined", "-Wl,-z,now", "-Wl,-z,relro", "-s",
  ]);
  return so;
}

function compileAgent(inputs: string[]): string {
  const bin = join(dist, "bomfather");
  const sources = ["src", "ffi"].map((d) => join(root, d));
  if (upToDate(bin, [...sources, ...inputs, join(root, "package.json"), join(root, "build.ts")])) return bin;
  step("bun build --compile -> dist/bomfather");
  mkdirSync(dist, { recursive: true });
  // No bunfig.toml or .env from the working directory: either could preload code into the agent.
  // Bytecode compiled ahead (ESM, as without it): the agent starts without parsing its modules,
  // which halves the time of a short command ("check" of a small policy: 52 -> 23 ms).
  sh([
    process.execPath, "build", "--compile", "--bytecode", "--format=esm", "--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv",
    "--minify-syntax", "--sourcemap=none", join(root, "src", "cli.ts"), "--outfile", bin,
  ]);
  return bin;
}

export function build(): string {
  checkTools();
  mkdirSync(out, { recursive: true });
  const native = buildNative();
  vmlinuxHeader();
  const objects = ["bomfather", "probe"].map((n) => buildBpf(n, native.include));
  const shim = buildShim(native);
  return compileAgent([...objects, shim]);
}

if (import.meta.main) {
  try {
    const bin = build();
    console.error(`build: ${resolve(bin)}`);
  } catch (e) {
    if (e instanceof BuildError) {
      console.error(`build failed: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}
