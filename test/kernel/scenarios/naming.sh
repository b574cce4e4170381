# Naming: the agent keys a protected file by the kernel's name of its inode (s_dev, i_ino). It
# names a file by stat where the file's directory, opened, shows that stat names inodes as the
# kernel does and the file is on the directory's device; elsewhere it opens the file. Each file
# below stands on one footing; each is refused to root and read by the trusted reader, and
# unprotected neighbours on the same footing stay readable (the denial is the rule's doing).
. /scenarios/lib.sh

mkdir -p /srv/n /mnt/n-tmpfs
mount -t tmpfs tmpfs /mnt/n-tmpfs || fail naming-setup "cannot mount a tmpfs on /mnt/n-tmpfs"
echo "on the root file system" >/srv/n/root.txt
echo "a neighbour" >/srv/n/neighbour.txt
echo "on a tmpfs" >/mnt/n-tmpfs/own.txt
echo "a neighbour on the tmpfs" >/mnt/n-tmpfs/neighbour.txt
# A file bind-mounted from the tmpfs into a directory of the root file system: another device
# than its directory's.
echo "bound in" >/mnt/n-tmpfs/bound-source.txt
touch /srv/n/bound.txt
mount --bind /mnt/n-tmpfs/bound-source.txt /srv/n/bound.txt || fail naming-setup "cannot bind-mount a file"
# A symbolic link in a directory of the root file system to a file on the tmpfs.
echo "linked to" >/mnt/n-tmpfs/link-target.txt
ln -s /mnt/n-tmpfs/link-target.txt /srv/n/link.txt
expect_ok naming-bound-readable-before cat /srv/n/bound.txt
expect_eq naming-bound-content "bound in" "$BF_OUT"

# refused_on NAME POLICY WHY: the agent refuses POLICY (exit 1), naming its first rule's line and
# saying WHY; checks naming-NAME-refused, -names-line, -says-why.
refused_on() { # NAME POLICY WHY
  expect_status "naming-$1-refused" 1 bomfather --policy "/policies/$2"
  line=$(grep -n '^  - path:' "/policies/$2" | head -n1 | cut -d: -f1)
  expect_contains "naming-$1-names-line" "/policies/$2:$line:" "$BF_ERR"
  expect_contains "naming-$1-says-why" "$3" "$BF_ERR"
}

# Overlays. An open there presents the overlay's file, then its layer's; the hooks on the merged
# path see the overlay's inode. With every layer on the tmpfs, that inode's number is its layer
# file's, and lasts: protected by the merged path, a file of the lower layer, one copied up to the
# upper layer before the agent starts, and a directory.
load_module overlay || fail naming-setup "cannot load the overlay module"
mkdir -p /mnt/n-tmpfs/same-lower/dir /mnt/n-tmpfs/same-up/u /mnt/n-tmpfs/same-up/w /mnt/n-same
echo "in the lower layer" >/mnt/n-tmpfs/same-lower/lower.txt
echo "copied up" >/mnt/n-tmpfs/same-lower/copied.txt
echo "in a directory" >/mnt/n-tmpfs/same-lower/dir/below.txt
echo "an overlay neighbour" >/mnt/n-tmpfs/same-lower/neighbour.txt
mount -t overlay overlay -o lowerdir=/mnt/n-tmpfs/same-lower,upperdir=/mnt/n-tmpfs/same-up/u,workdir=/mnt/n-tmpfs/same-up/w /mnt/n-same ||
  fail naming-setup "cannot mount an overlay with its layers on the tmpfs"
echo "written through the overlay" >>/mnt/n-same/copied.txt
[ -f /mnt/n-tmpfs/same-up/u/copied.txt ] || fail naming-setup "copied.txt was not copied up"
# Layers on two file systems (lower on the root file system, upper on the tmpfs): two layers' files
# can share the overlay's inode number, and a directory's changes; a rule there is refused, not
# kept on a name that does not last. So is a directory with such an overlay mounted below it.
mkdir -p /srv/n-mixed-lower /mnt/n-tmpfs/mixed-up/u /mnt/n-tmpfs/mixed-up/w /mnt/n-mixed /srv/n-tree/ovl
echo "mixed" >/srv/n-mixed-lower/mixed.txt
echo "in a tree" >/srv/n-tree/plain.txt
mount -t overlay overlay -o lowerdir=/srv/n-mixed-lower,upperdir=/mnt/n-tmpfs/mixed-up/u,workdir=/mnt/n-tmpfs/mixed-up/w /mnt/n-mixed ||
  fail naming-setup "cannot mount an overlay with its layers on two file systems"
mount --bind /mnt/n-mixed /srv/n-tree/ovl || fail naming-setup "cannot bind the overlay below /srv/n-tree"
for p in mixed tree; do
  refused_on "overlay-$p" "naming-overlay-$p.yaml" "whose layers lie on different file systems"
done
expect_ok naming-overlay-mixed-nothing-applied cat /mnt/n-mixed/mixed.txt

# File systems that make inode numbers up (FAT numbers an inode anew each time it reads it in;
# procfs most of its files each time it makes them): a rule keyed on one would stop applying once
# the kernel let the inode go. Refused, naming the line and the file system.
if load_module loop && load_module vfat && load_module nls_cp437 && load_module nls_ascii; then
  truncate -s 8M /tmp/n-fat.img
  if ! mkdosfs /tmp/n-fat.img >/dev/null || ! FAT_DEV=$(losetup -f) || ! losetup "$FAT_DEV" /tmp/n-fat.img ||
    ! mkdir -p /mnt/n-fat || ! mount -t vfat "$FAT_DEV" /mnt/n-fat; then
    fail naming-setup "cannot make and mount a FAT file system"
  fi
  echo "on FAT" >/mnt/n-fat/boot.cfg
else
  fail naming-setup "cannot load the FAT modules"
fi
refused_on fat naming-fat.yaml "it is on FAT (vfat, msdos)"
refused_on procfs naming-procfs.yaml "it is on procfs"
expect_ok naming-fat-nothing-applied cat /mnt/n-fat/boot.cfg

start_agent naming-agent-starts /policies/naming.yaml || exit 1

for f in root.txt bound.txt link.txt; do
  expect_fail_eperm "naming-$f-denied" cat /srv/n/$f
  expect_ok "naming-$f-reader-reads" /usr/local/bin/trusted-reader /srv/n/$f
done
expect_fail_eperm naming-tmpfs-denied cat /mnt/n-tmpfs/own.txt
expect_ok naming-tmpfs-reader-reads /usr/local/bin/trusted-reader /mnt/n-tmpfs/own.txt
# What the links and mounts lead to is the same inode: refused by that path too.
expect_fail_eperm naming-bound-source-denied cat /mnt/n-tmpfs/bound-source.txt
expect_fail_eperm naming-link-target-denied cat /mnt/n-tmpfs/link-target.txt
expect_ok naming-neighbour-readable cat /srv/n/neighbour.txt
expect_ok naming-tmpfs-neighbour-readable cat /mnt/n-tmpfs/neighbour.txt
for f in lower.txt copied.txt dir/below.txt; do
  n=$(echo "$f" | tr / -)
  expect_fail_eperm "naming-overlay-$n-denied" cat /mnt/n-same/$f
  expect_ok "naming-overlay-$n-reader-reads" /usr/local/bin/trusted-reader /mnt/n-same/$f
done
expect_fail_eperm naming-overlay-write-denied sh -c 'echo x >>/mnt/n-same/lower.txt'
expect_fail_eperm naming-overlay-remove-denied rm /mnt/n-same/copied.txt
expect_ok naming-overlay-neighbour-readable cat /mnt/n-same/neighbour.txt

stop_agent
umount /mnt/n-fat && losetup -d "$FAT_DEV" && rm -f /tmp/n-fat.img
umount /srv/n-tree/ovl
umount /mnt/n-mixed
umount /mnt/n-same
umount /srv/n/bound.txt
umount /mnt/n-tmpfs
