# Executables pinned by fs-verity digest (issue 10): the executable holds its grants only while its
# file has the digest the policy pins. run measures the very file at start (and at every reload) and
# refuses, exit 1 with both digests, another content at that path, a copy without fs-verity, and a
# file system without it; on Linux 6.8+ the kernel also compares the digest at every exec. A file
# renamed over the pinned one holds no grant until a signed reload names it.
. /scenarios/lib.sh

KEY=/opt/keys/test.pem
MNT=/mnt/verity
mkdir -p /srv/digest
echo "digest secret" >/srv/digest/secret.txt
if make_verity_fs "$MNT" 2>"$BF_SCRATCH/make.err"; then
  pass digest-fs-made "$(grep " $MNT " /proc/mounts)"
else
  fail digest-fs-made "$(cat "$BF_SCRATCH/make.err")"
  exit 0
fi
# signer-src: a copy of cat(1), the content the policies pin; other-src: env(1).
verity_copy() { # SRC DEST: DEST with fs-verity enabled
  rm -f "$2" && cp "$1" "$2" && fsverity enable "$2"
}
verity_copy /opt/digest/signer-src "$MNT/signer"
cp /opt/digest/signer-src /tmp/signer-on-tmpfs

start_agent digest-agent-starts /policies/digest.yaml || exit 1
expect_contains digest-start-says-how "fs-verity digests: measured now" "$(cat /tmp/agent.err)"
case "$(uname -r)" in
  6.1.*) expect_contains digest-start-says-kernel "cannot check them at exec" "$(cat /tmp/agent.err)" ;;
  *) expect_contains digest-start-says-kernel "checked by the kernel at every exec" "$(cat /tmp/agent.err)" ;;
esac
expect_ok digest-match-reads "$MNT/signer" /srv/digest/secret.txt
expect_eq digest-match-content "digest secret" "$BF_OUT"
expect_fail_eperm digest-root-denied cat /srv/digest/secret.txt
expect_fail_eperm digest-copy-elsewhere-denied /opt/digest/signer-src /srv/digest/secret.txt

# A file renamed over the pinned one (by the updater the policy names): a new inode, no grant,
# even with the same content, until a signed reload measures and names it.
verity_copy /opt/digest/signer-src "$MNT/signer.new"
expect_fail_eperm digest-rename-by-root-refused mv "$MNT/signer.new" "$MNT/signer"
expect_ok digest-rename-by-updater /usr/local/bin/updater mv "$MNT/signer.new" "$MNT/signer"
expect_fail_eperm digest-renamed-holds-no-grant "$MNT/signer" /srv/digest/secret.txt
expect_ok digest-signed-reload bomfather reload --policy /policies/digest.yaml --sign "$KEY"
expect_ok digest-reloaded-reads "$MNT/signer" /srv/digest/secret.txt
stop_agent

# Another content at the path: refused at start, with both digests.
verity_copy /opt/digest/other-src "$MNT/signer"
expect_status digest-other-content-refused 1 bomfather --policy /policies/digest.yaml
expect_contains digest-other-content-names-actual "has fs-verity digest $(fsverity digest "$MNT/signer" | cut -d' ' -f1)" "$BF_ERR"
expect_contains digest-other-content-names-pinned "the policy pins $(fsverity digest /opt/digest/signer-src | cut -d' ' -f1)" "$BF_ERR"
expect_contains digest-other-content-at-line "/policies/digest.yaml:5:" "$BF_ERR"
# The same content without fs-verity: refused.
rm -f "$MNT/signer" && cp /opt/digest/signer-src "$MNT/signer"
expect_status digest-no-verity-refused 1 bomfather --policy /policies/digest.yaml
expect_contains digest-no-verity-says-why "has no fs-verity digest" "$BF_ERR"
# A file system without fs-verity: refused.
expect_status digest-tmpfs-refused 1 bomfather --policy /policies/digest-tmpfs.yaml
expect_contains digest-tmpfs-says-why "cannot have an fs-verity digest" "$BF_ERR"
# Nothing was left enforcing by the refused starts.
expect_ok digest-nothing-enforced cat /srv/digest/secret.txt

remove_verity_fs "$MNT"
