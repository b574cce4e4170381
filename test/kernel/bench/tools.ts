// What the bench and the soak scenario put into the VM: small C programs that time open+close and
// fork+exec, empty BPF programs on the agent's hooks with their loader, and a large policy.
import { join } from "node:path";
import { buildNative, vmlinuxHeader } from "../../../build.ts";
import type { GuestFile } from "../initramfs.ts";
import { TEST_KEY_GUEST, withTestKey, type TestKey } from "../keys.ts";
import { run } from "../run.ts";

const here = import.meta.dir;
const root = join(here, "..", "..", "..");

export const BENCH_TOOLS = ["openclose", "forkexec", "empty-loader", "empty.bpf.o"] as const;

/** Compiles the bench tools into dir. */
export async function buildBenchTools(dir: string): Promise<void> {
  const native = buildNative();
  const vmlinux = vmlinuxHeader();
  await run(["gcc", "-O2", "-o", join(dir, "openclose"), join(here, "openclose.c")]);
  await run(["gcc", "-O2", "-o", join(dir, "forkexec"), join(here, "forkexec.c")]);
  await run(["clang", "-O2", "-g", "-target", "bpf", `-I${join(vmlinux, "..")}`, `-I${native.include}`, "-c", join(here, "empty.bpf.c"), "-o", join(dir, "empty.bpf.o")]);
  await run(["gcc", "-O2", `-I${native.include}`, "-o", join(dir, "empty-loader"), join(here, "empty-loader.c"), ...native.libs]);
}

/**
 * A policy protecting /srv/demo/secret.txt and `files` files /srv/bench/f<i>, each granted to the
 * trusted reader (/usr/local/bin/trusted-reader, a copy of cat), listing the scenarios' key.
 * protection: monitor lets bpftool read the agent's programs' statistics (the bench does); the
 * decisions on the hot paths are the same.
 */
export function largePolicy(files: number, key: TestKey, protection: "enforce" | "monitor" = "enforce"): string {
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
  // Every runtime defense on, so that fork+exec pays for all of them.
  lines.push("runtime:", "  environment: {}", "  ptrace: {}", "  fileless: {}");
  if (protection === "monitor") lines.push("agent:", "  protection:", "    mode: monitor");
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
