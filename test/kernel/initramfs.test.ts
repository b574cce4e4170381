// The initramfs builder, checked with the host's cpio: no VM needed.

import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureHostTools } from "./host-tools.ts";
import { buildInitramfs, sharedLibraries } from "./initramfs.ts";
import { run } from "./run.ts";

const smoke = join(import.meta.dir, "scenarios", "smoke.sh");

describe("buildInitramfs", () => {
  let work: string;
  beforeAll(async () => {
    await ensureHostTools();
    work = mkdtempSync(join(tmpdir(), "bomfather-initramfs-test-"));
    return () => rmSync(work, { recursive: true, force: true });
  });

  test("holds busybox, /init, the scenarios, the caller's files and their libraries", async () => {
    const out = join(work, "root.cpio");
    await buildInitramfs({ files: [{ host: "/bin/ls", guest: "/opt/host/ls" }], scenarios: [smoke], out });
    const listing = await run(["cpio", "-itv", "--quiet", "-F", out]);
    const entries = new Map(
      listing
        .trim()
        .split("\n")
        .map((line) => {
          const fields = line.replace(/ -> .*/, "").split(/\s+/);
          return [fields.at(-1)!, fields[0]!] as const;
        }),
    );

    expect(entries.get("bin/busybox")).toBe("-rwxr-xr-x");
    expect(entries.get("bin/sh")).toStartWith("l");
    expect(entries.get("dev/console")).toStartWith("c");
    expect(entries.get("init")).toBe("-rwxr-xr-x");
    expect(entries.get("scenarios/lib.sh")).toBe("-rw-r--r--");
    expect(entries.get("scenarios/smoke.sh")).toBe("-rwxr-xr-x");
    expect(entries.get("opt/host/ls")).toBe("-rwxr-xr-x");
    for (const library of await sharedLibraries(["/bin/ls"])) expect(entries.has(library.slice(1))).toBe(true);
    expect(entries.has("lib64/ld-linux-x86-64.so.2")).toBe(true);
    expect(entries.has("lib/x86_64-linux-gnu/libc.so.6")).toBe(true);
  });

  test("is byte-for-byte deterministic", async () => {
    const options = { files: [{ host: "/bin/ls", guest: "/opt/host/ls" }], scenarios: [smoke] };
    await buildInitramfs({ ...options, out: join(work, "a.cpio") });
    await buildInitramfs({ ...options, out: join(work, "b.cpio") });
    expect(readFileSync(join(work, "a.cpio")).equals(readFileSync(join(work, "b.cpio")))).toBe(true);
  });

  test("refuses two files at one guest path and a missing host file, naming them", async () => {
    const out = join(work, "bad.cpio");
    const twice = [
      { host: "/bin/ls", guest: "/opt/x" },
      { host: "/bin/cat", guest: "/opt/x" },
    ];
    await expect(buildInitramfs({ files: twice, scenarios: [], out })).rejects.toThrow('Two files would be put at "/opt/x"');
    const missing = [{ host: "/nonexistent/agent", guest: "/usr/bin/agent" }];
    await expect(buildInitramfs({ files: missing, scenarios: [], out })).rejects.toThrow('"/nonexistent/agent"');
  });
});

describe("sharedLibraries", () => {
  test("lists the dynamic loader and libc for a glibc binary, nothing for a static one", async () => {
    const libraries = await sharedLibraries(["/bin/ls"]);
    expect(libraries).toContain("/lib64/ld-linux-x86-64.so.2");
    expect(libraries.some((path) => path.endsWith("/libc.so.6"))).toBe(true);
    expect(await sharedLibraries(["/bin/busybox"])).toEqual([]);
  });
});
