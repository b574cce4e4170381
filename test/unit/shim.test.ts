// The shim's calls that need no BPF: they run on any machine.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptUnix, closeFd, listenUnix, probeUnix } from "../../ffi/socket.ts";
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

describe("waker", () => {
  test("wakes the event loop once per arm when a connection waits on its socket, never after stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bf-waker-"));
    const path = join(dir, "s.sock");
    const fd = listenUnix(path, 4);
    let woken = 0;
    let resolve = () => {};
    const next = () => new Promise<void>((res) => (resolve = res));
    const waker = shim.waker(fd, () => {
      woken++;
      resolve();
    });
    try {
      expect(() => shim.waker(fd, () => {})).toThrow(/waker thread.*busy/i); // one per process
      // Armed, nobody connecting: no call.
      waker.arm();
      await Bun.sleep(50);
      expect(woken).toBe(0);
      // A connection waits: one call, at once (no timer is due: the event loop is woken).
      let woke = next();
      const t0 = performance.now();
      expect(probeUnix(path)).toBe("listening");
      await woke;
      expect(performance.now() - t0).toBeLessThan(200);
      expect(woken).toBe(1);
      // Still waiting, not armed again: no second call.
      await Bun.sleep(50);
      expect(woken).toBe(1);
      // Armed while one waits: at once.
      woke = next();
      waker.arm();
      await woke;
      expect(woken).toBe(2);
      // Accepted, armed again: quiet until the next connection.
      closeFd(acceptUnix(fd));
      waker.arm();
      await Bun.sleep(50);
      expect(woken).toBe(2);
      woke = next();
      expect(probeUnix(path)).toBe("listening");
      await woke;
      expect(woken).toBe(3);
    } finally {
      waker.stop();
    }
    // Stopped: arming does nothing, and another waker may start.
    waker.arm();
    expect(probeUnix(path)).toBe("listening");
    await Bun.sleep(50);
    expect(woken).toBe(3);
    shim.waker(fd, () => {}).stop();
    closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
  });
});
