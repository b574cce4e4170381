// Whether the kernel's names of inodes on an overlay last (src/kernel/overlay.ts): judged from
// mountinfo's line of the overlay and the devices of its layers.
import { expect, test } from "bun:test";
import { overlayMount, stackedUnsound } from "../../src/kernel/overlay.ts";

// Lines as 6.1 and 6.12 write them: the overlay has s_dev 0:25 (kernel encoding 25) and 0:52.
const MOUNTINFO = [
  "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
  "30 22 0:24 / /tmp rw,nosuid shared:2 - tmpfs tmpfs rw",
  "41 22 0:25 / /mnt/ovl rw,relatime shared:3 - overlay overlay rw,lowerdir=/srv/lower,upperdir=/tmp/ovl/u,workdir=/tmp/ovl/w",
  "42 22 0:52 / /mnt/two\\040words rw,relatime shared:4 - overlay overlay rw,lowerdir=/srv/a:/srv/b\\072c,upperdir=/srv/up/u,workdir=/srv/up/w,xino=off",
  "43 22 0:53 / /mnt/ro rw,relatime shared:5 - overlay overlay ro,lowerdir=/srv/x:/srv/y",
  "44 22 0:54 / /mnt/new rw,relatime shared:6 - overlay overlay rw,lowerdir+=/srv/p,lowerdir+=/srv/q,upperdir=/srv/up2/u,workdir=/srv/up2/w",
  "",
].join("\n");

test("finds the overlay by the kernel's s_dev and names its layers, upper first, escapes undone", () => {
  expect(overlayMount(MOUNTINFO, 25)).toEqual({ dev: 25, mountPoint: "/mnt/ovl", layers: ["/tmp/ovl/u", "/srv/lower"] });
  expect(overlayMount(MOUNTINFO, 52)).toEqual({ dev: 52, mountPoint: "/mnt/two words", layers: ["/srv/up/u", "/srv/a", "/srv/b:c"] });
  expect(overlayMount(MOUNTINFO, 53)?.layers).toEqual(["/srv/x", "/srv/y"]);
  expect(overlayMount(MOUNTINFO, 54)?.layers).toEqual(["/srv/up2/u", "/srv/p", "/srv/q"]);
  // Not an overlay (a tmpfs), or no mount at all.
  expect(overlayMount(MOUNTINFO, 24)).toBeNull();
  expect(overlayMount(MOUNTINFO, (254 << 20) | 1)).toBeNull();
  expect(overlayMount(MOUNTINFO, 99)).toBeNull();
});

test("layers on one file system: sound; on two: unsound, saying where; a layer not found: unsound", () => {
  const devs: Record<string, bigint> = { "/tmp/ovl/u": 24n, "/srv/lower": 0xfe01n, "/srv/up/u": 0xfe01n, "/srv/a": 0xfe01n, "/srv/b:c": 0xfe01n };
  const stDev = (p: string) => devs[p] ?? null;
  expect(stackedUnsound(52, MOUNTINFO, stDev)).toBeNull();
  expect(stackedUnsound(25, MOUNTINFO, stDev)).toContain(`overlay file system mounted on "/mnt/ovl", whose layers lie on different file systems`);
  expect(stackedUnsound(53, MOUNTINFO, stDev)).toContain(`whose layer "/srv/x" cannot be found`);
  // Another stacked file system than overlayfs is not judged.
  expect(stackedUnsound(24, MOUNTINFO, stDev)).toBeUndefined();
});
