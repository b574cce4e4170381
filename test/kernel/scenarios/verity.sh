#!/bin/sh
# The fs-verity test bed, without the agent: an ext4 file system with the verity feature on a loop
# device (make_verity_fs), a binary made verity there, the kernel's measurement equal to the digest
# fsverity computes in user space, its content immutable, and the binary still runnable.
. /scenarios/lib.sh

MNT=/mnt/verity
if make_verity_fs "$MNT" 2>"$BF_SCRATCH/make.err"; then
  pass verity-fs-made "$(grep " $MNT " /proc/mounts)"
else
  fail verity-fs-made "$(cat "$BF_SCRATCH/make.err")"
  exit 0
fi

cp /bin/busybox "$MNT/busybox"
expect_ok verity-enable fsverity enable "$MNT/busybox"

# Both printed: "sha256:<hex> /mnt/verity/busybox", from the kernel and from user space.
bf_capture fsverity measure "$MNT/busybox"
measured=$BF_OUT
bf_capture fsverity digest "$MNT/busybox"
digest=$BF_OUT
case "$measured" in
  sha256:*) expect_eq verity-measure "$digest" "$measured" ;;
  *) fail verity-measure "fsverity measure printed \"$measured\" (digest: \"$digest\")" ;;
esac

expect_fail_eperm verity-content-immutable sh -c "echo tampered >>$MNT/busybox"

bf_capture "$MNT/busybox" echo verity-binary-ran
expect_eq verity-runs verity-binary-ran "$BF_OUT"

remove_verity_fs "$MNT"
