// Plain `bun test` runs the unit suite only; the kernel suite is ./dev test's (it needs QEMU).
import { expect, test } from "bun:test";
import { join } from "node:path";

test("plain bun test loads the unit and policy tests, not the kernel suite", () => {
  const p = Bun.spawnSync([process.execPath, "test", "--test-name-pattern", "^no test has this name$"], {
    cwd: join(import.meta.dir, "..", ".."),
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = p.stdout.toString() + p.stderr.toString();
  expect(out).toContain("test/unit/cli.test.ts");
  expect(out).toContain("test/policy/golden.test.ts");
  expect(out).not.toContain("test/kernel/");
});
