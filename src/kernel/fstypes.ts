// Which file systems keep an inode's number for as long as the file lives. The agent knows a file
// by the kernel's (s_dev, i_ino): on a file system that makes the number up each time it reads an
// inode in (FAT and exFAT take the next free one, procfs many of its files a counter's next value),
// the number changes once the kernel has let the inode go (memory pressure, a cache drop), and a
// rule keyed on the old one protects nothing. Those file systems, and those not known here, are
// refused rather than trusted. The values are statfs(2)'s f_type (linux/magic.h).

/** File systems whose inode numbers last: on disk or from the server, or held in memory for good. */
const LASTING: ReadonlyMap<number, string> = new Map([
  [0xef53, "ext2/ext3/ext4"],
  [0x58465342, "xfs"],
  [0x9123683e, "btrfs"],
  [0xf2f52010, "f2fs"],
  [0x2fc12fc1, "zfs"],
  [0xca451a4e, "bcachefs"],
  [0x3153464a, "jfs"],
  [0x52654973, "reiserfs"],
  [0x3434, "nilfs2"],
  [0x7366746e, "ntfs3"],
  [0x482b, "hfsplus"],
  [0x73717368, "squashfs"],
  [0xe0f5e1e2, "erofs"],
  [0x9660, "iso9660"],
  [0x15013346, "udf"],
  [0x7461636f, "ocfs2"],
  [0x01161970, "gfs2"],
  [0x6969, "nfs"],
  [0xff534d42, "cifs"],
  [0xfe534d42, "smb2"],
  [0x00c36400, "ceph"],
  [0x01021997, "9p"],
  [0xf15f, "ecryptfs"],
  // Held in memory for as long as they exist (each inode pinned by its dentry).
  [0x01021994, "tmpfs"],
  [0x858458f6, "ramfs"],
  [0x958458f6, "hugetlbfs"],
  [0xcafe4a11, "bpf"],
  // kernfs: a node's number is its id for as long as it exists.
  [0x62656572, "sysfs"],
  [0x63677270, "cgroup2"],
  [0x0027e0eb, "cgroup"],
  // Judged mount by mount (src/kernel/overlay.ts).
  [0x794c7630, "overlay"],
]);

/** File systems known to make inode numbers up, and why that matters, for the diagnostic. */
const MADE_UP: ReadonlyMap<number, string> = new Map([
  [0x4d44, "FAT (vfat, msdos), which numbers an inode anew each time it reads it in"],
  [0x2011bab0, "exFAT, which numbers an inode anew each time it reads it in"],
  [0x9fa0, "procfs, which numbers most of its inodes anew each time it makes them"],
  [0x65735546, "FUSE, whose server numbers its inodes (and may number them anew)"],
]);

/**
 * Why the kernel's inode numbers on a file system of type fsType (statfs's f_type) cannot be
 * trusted to last; null when they can. 0 (the type could not be read) is not judged: the path
 * could be neither opened nor statfs'ed, and what names it says so.
 */
export function fsTypeUnsound(fsType: number): string | null {
  if (fsType === 0 || LASTING.has(fsType)) return null;
  const known = MADE_UP.get(fsType);
  if (known) return `it is on ${known}: a rule keyed on its inode number would stop applying once the kernel reads the inode in again`;
  return `bomfather does not know whether its file system (statfs type 0x${fsType.toString(16)}) keeps inode numbers, and a rule keyed on one that does not would stop applying unseen`;
}

/**
 * Local file systems: every change of a directory's entries goes through this kernel, which
 * reports it to a watch of the directory (src/kernel/watch.ts). Not network file systems (a change
 * made on the server or another client is not seen), FUSE or stacked ones (overlayfs: a change in
 * a layer is not reported on the overlay).
 */
const LOCAL: ReadonlySet<number> = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x01021994]);

/** Whether a watch of a directory on a file system of type fsType sees every change of its entries. */
export function fsTypeLocal(fsType: number): boolean {
  return LOCAL.has(fsType);
}
