// What the bench and the soak scenario put into the VM: small C programs that time open+close and
// fork+exec, empty BPF programs on the agent's hooks with their loader, and a large policy.
import { join } from "node:path";
import { buildNative, vmlinuxHeader } from "../../../build.ts";
import type { GuestFile } from "../initramfs.ts";
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
 * trusted reader (/usr/local/bin/trusted-reader, a copy of cat).
 */
export function largePolicy(files: number): string {
  const lines = [
    "version: 1",
    "executables:",
    "  reader:",
    "    path: /usr/local/bin/trusted-reader",
    "files:",
    "  - path: /srv/demo/secret.txt",
    "    allow: [{ executable: reader, access: read }]",
  ];
  for (let i = 0; i < files; i++) lines.push(`  - { path: /srv/bench/f${i}, allow: [{ executable: reader, access: [read, write] }] }`);
  return lines.join("\n") + "\n";
}

/** The guest files both need: the agent, the trusted reader, the tools (from dir) and extra files of dir. */
export function benchGuestFiles(dir: string, extra: string[]): GuestFile[] {
  return [
    { host: join(root, "dist", "bomfather"), guest: "/usr/local/sbin/bomfather" },
    { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
    ...[...BENCH_TOOLS, ...extra].map((f) => ({ host: join(dir, f), guest: `/opt/bench/${f}` })),
  ];
}
