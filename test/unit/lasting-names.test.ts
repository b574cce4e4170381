// Whether the kernel's names of inodes last: by file system type (src/kernel/fstypes.ts), and on an
// overlay, judged from mountinfo's line of it and the devices of its layers (src/kernel/overlay.ts).
import { expect, test } from "bun:test";
import { fsTypeUnsound } from "../../src/kernel/fstypes.ts";
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

test("file systems that make inode numbers up, and those not known, are refused; those that keep them are not", () => {
  for (const kept of [0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x858458f6, 0xcafe4a11, 0x794c7630]) expect(fsTypeUnsound(kept)).toBeNull();
  expect(fsTypeUnsound(0x4d44)).toContain("FAT (vfat, msdos)");
  expect(fsTypeUnsound(0x2011bab0)).toContain("exFAT");
  expect(fsTypeUnsound(0x9fa0)).toContain("procfs");
  expect(fsTypeUnsound(0x65735546)).toContain("FUSE");
  expect(fsTypeUnsound(0x12345678)).toContain("statfs type 0x12345678");
  // Not read: not judged here (the path could be neither opened nor statfs'ed).
  expect(fsTypeUnsound(0)).toBeNull();
});
