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

stop_agent
umount /srv/n/bound.txt
umount /mnt/n-tmpfs
