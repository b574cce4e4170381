// The shim's calls that need no BPF: they run on any machine.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadShim } from "../../src/kernel/assets.ts";

const shim = await loadShim();

describe("statInodes", () => {
  test("each path's inode as stat gives it, following symbolic links; null where stat fails", () => {
    const dir = mkdtempSync(join(tmpdir(), "bf-shim-"));
    try {
      const a = join(dir, "a");
      const b = join(dir, "b é"); // a name beyond ASCII
      writeFileSync(a, "a");
      writeFileSync(b, "b");
      symlinkSync(a, join(dir, "link"));
      const paths = [a, join(dir, "missing"), b, join(dir, "link"), dir];
      expect(shim.statInodes(paths)).toEqual([statSync(a).ino, null, statSync(b).ino, statSync(a).ino, statSync(dir).ino].map((n) => (n === null ? null : BigInt(n))));
      // A file replaced by a rename has another inode at the same path.
      const before = shim.statInodes([a])[0];
      writeFileSync(join(dir, "new"), "new");
      renameSync(join(dir, "new"), a);
      expect(shim.statInodes([a])[0]).not.toBe(before);
      expect(shim.statInodes([])).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
