// The fs-verity digests of the executables a policy pins by digest, measured by the kernel
// (FS_IOC_MEASURE_VERITY) on the very file the policy was compiled against: the file is opened, and
// it must still be the inode the kernel named. fs-verity content cannot change once enabled, so the
// measured inode keeps that digest for as long as it exists (bpf/inherit.bpf.h relies on it where
// the kernel cannot check at exec, before Linux 6.8).
import { closeSync, constants, existsSync, fstatSync, openSync } from "node:fs";
import { NativeError, type Shim } from "../../ffi/shim.ts";
import type { Measured } from "../compile/compile.ts";

const FS_VERITY_HASH_ALG_SHA256 = 1;
const ENOTTY = 25;
const EOPNOTSUPP = 95;

/** Does this kernel have fs-verity at all (CONFIG_FS_VERITY)? The file systems that offer it say so. */
export function kernelHasVerity(): boolean {
  return ["/sys/fs/ext4/features/verity", "/sys/fs/f2fs/features/verity"].some((p) => existsSync(p));
}

/** Measure the file at path, which the kernel named as inode ino. */
export function measureDigest(shim: Shim, path: string, ino: bigint): Measured {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    return { kind: "replaced" };
  }
  try {
    if (fstatSync(fd, { bigint: true }).ino !== ino) return { kind: "replaced" };
    const m = shim.measureVerity(fd);
    if (!m) return { kind: "none" };
    if (m.algorithm !== FS_VERITY_HASH_ALG_SHA256 || m.digest.length !== 32) {
      return { kind: "unsupported", why: `its fs-verity digest uses hash algorithm ${m.algorithm}, and policies pin SHA-256 digests (fsverity enable's default)` };
    }
    return { kind: "digest", hex: Buffer.from(m.digest).toString("hex") };
  } catch (e) {
    if (e instanceof NativeError && (e.errno === ENOTTY || e.errno === EOPNOTSUPP)) {
      return kernelHasVerity()
        ? { kind: "unsupported", why: "its file system has no fs-verity (ext4 needs the verity feature: mkfs.ext4 -O verity or tune2fs -O verity)" }
        : { kind: "kernel", why: "this kernel has no fs-verity (CONFIG_FS_VERITY)" };
    }
    throw e;
  } finally {
    closeSync(fd);
  }
}
