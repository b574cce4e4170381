// What the bench and the soak scenario put into the VM: small C programs that time open+close and
// fork+exec, empty BPF programs on the agent's hooks with their loader, and a large policy.
import { join } from "node:path";
import { buildNative, vmlinuxHeader } from "../../../build.ts";
import type { GuestFile } from "../initramfs.ts";
import { TEST_KEY_GUEST, withTestKey, type TestKey } from "../keys.ts";
import { run } from "../run.ts";

const here = import.meta.dir;
const root = join(here, "..", "..", "..");

export const BENCH_TOOLS = ["openclose", "forkexec", "netops", "empty-loader", "empty.bpf.o"] as const;

/** Compiles the bench tools into dir. */
export async function buildBenchTools(dir: string): Promise<void> {
  const native = buildNative();
  const vmlinux = vmlinuxHeader();
  await run(["gcc", "-O2", "-o", join(dir, "openclose"), join(here, "openclose.c")]);
  await run(["gcc", "-O2", "-o", join(dir, "forkexec"), join(here, "forkexec.c")]);
  await run(["gcc", "-O2", "-o", join(dir, "netops"), join(here, "netops.c")]);
  await run(["clang", "-O2", "-g", "-target", "bpf", `-I${join(vmlinux, "..")}`, `-I${native.include}`, "-c", join(here, "empty.bpf.c"), "-o", join(dir, "empty.bpf.o")]);
  await run(["gcc", "-O2", `-I${native.include}`, "-o", join(dir, "empty-loader"), join(here, "empty-loader.c"), ...native.libs]);
}

/** Where the bench's named executables for network rules live in the guest (empty files it creates). */
export const BENCH_EXE_DIR = "/opt/bench/exe";

/**
 * A policy protecting /srv/demo/secret.txt and `files` files /srv/bench/f<i>, each granted to the
 * trusted reader (/usr/local/bin/trusted-reader, a copy of cat), listing the scenarios' key.
 * protection: monitor lets bpftool read the agent's programs' statistics (the bench does); the
 * decisions on the hot paths are the same. net: a network section of `addresses` CIDRs (half IPv4
 * /24s, half IPv6 /48s) in 100 destinations, each allowing 10 of `exes` executables
 * (BENCH_EXE_DIR/e<i>), half of which are confined; and the destination the bench's netops
 * reaches (127.0.0.0/8 on some ports: both of the kernel's lookups), open to all.
 */
export function largePolicy(files: number, key: TestKey, protection: "enforce" | "monitor" = "enforce", net?: { addresses: number; exes: number }): string {
  const lines = [
    "version: 1",
    "executables:",
    "  reader:",
    "    path: /usr/local/bin/trusted-reader",
    "files:",
    "  - path: /srv/demo/secret.txt",
    "    allow:",
    "      - executable: reader",
    "        access: read",
  ];
  // Block style, as docs/policy.md writes rules (and as the fast reader takes any size of it).
  for (let i = 0; i < files; i++) lines.push(`  - path: /srv/bench/f${i}`, "    allow:", "      - executable: reader", "        access: [read, write]");
  if (net) {
    for (let i = 0; i < net.exes; i++) lines.splice(2 + 2 * i + 2, 0, `  e${i}:`, `    path: ${BENCH_EXE_DIR}/e${i}`);
    lines.push("network:", "  destinations:", "    bench:", "      addresses: [127.0.0.0/8]", '      ports: [9, "1000-2000"]');
    const groups = 100;
    for (let g = 0; g < Math.min(groups, net.addresses); g++) {
      lines.push(`    d${g}:`, "      addresses:");
      for (let i = g; i < net.addresses; i += groups) {
        const n = i >> 1;
        lines.push(i % 2 ? `        - "fd00:${(n >> 8).toString(16)}:${(n & 255).toString(16)}::/48"` : `        - 10.${n >> 8}.${n & 255}.0/24`);
      }
      const allowed = Array.from({ length: Math.ceil(net.exes / groups) }, (_, j) => g + j * groups).filter((e) => e < net.exes);
      if (allowed.length) lines.push(`      allow: [${allowed.map((e) => `e${e}`).join(", ")}]`);
    }
    lines.push("  confine:");
    for (let e = 0; e < net.exes; e += 2) lines.push(`    - executable: e${e}`, `      to: [d${e % groups}, bench]`);
  }
  // Every runtime defense on, so that fork+exec pays for all of them.
  lines.push("runtime:", "  environment: {}", "  ptrace: {}", "  fileless: {}");
  if (protection === "monitor") lines.push("agent:", "  protection:", "    mode: monitor");
  return withTestKey(lines.join("\n") + "\n", key);
}

/** Depths of the files the directory bench opens: directly in the directory, and 8 and 32 levels down. */
export const TREE_DEPTHS = [1, 8, 32] as const;

/** The path of the bench's file at depth d below dir (dir/f, dir/d1/.../d<d-1>/f). */
export const atDepth = (dir: string, d: number) => `${dir}/${Array.from({ length: d - 1 }, (_, i) => `d${i + 1}/`).join("")}f`;

/**
 * The directory bench's policy: /srv/tree/ (the bench fills it with 100,000 files) and, for
 * comparison, a single protected file at each depth of TREE_DEPTHS under /srv/single, all readable
 * by the bench's open+close program.
 */
export function treePolicy(key: TestKey): string {
  const lines = ["version: 1", "executables:", "  opener:", "    path: /opt/bench/openclose", "files:", "  - path: /srv/tree/", "    allow:", "      - executable: opener", "        access: read"];
  for (const d of TREE_DEPTHS) lines.push(`  - path: ${atDepth("/srv/single", d)}`, "    allow:", "      - executable: opener", "        access: read");
  return withTestKey(lines.join("\n") + "\n", key);
}

/**
 * The guest files both need: the agent, the trusted reader, the tools (from dir), extra files of
 * dir and, with a key, its private half at TEST_KEY_GUEST.
 */
export function benchGuestFiles(dir: string, extra: string[], key?: TestKey): GuestFile[] {
  return [
    ...(key ? [{ host: key.privateKey, guest: TEST_KEY_GUEST, mode: 0o600 }] : []),
    { host: join(root, "dist", "bomfather"), guest: "/usr/local/sbin/bomfather" },
    { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
    ...[...BENCH_TOOLS, ...extra].map((f) => ({ host: join(dir, f), guest: `/opt/bench/${f}` })),
  ];
}
