# Threat class "reaching a protected file another way": every path that leads to the protected
# inode is refused. Each technique is first shown to work on an unprotected file, so a denial
# is the agent's doing, not a broken technique.
. /scenarios/lib.sh

mkdir -p /srv/demo /srv/elsewhere /mnt/bound
echo "the demo secret" >/srv/demo/secret.txt
echo "public" >/srv/demo/public.txt
ln /srv/demo/secret.txt /srv/elsewhere/hardlink-made-before-start

start_agent reach-agent-starts /policies/demo.yaml || exit 1

for mode in plain opath-reopen handle io-uring; do
  expect_ok "reach-$mode-works-on-unprotected" /opt/tools/reach "$mode" /srv/demo/public.txt
  expect_fail_eperm "reach-$mode-denied" /opt/tools/reach "$mode" /srv/demo/secret.txt
done

expect_fail_eperm reach-hard-link-made-before-start cat /srv/elsewhere/hardlink-made-before-start
ln -s /srv/demo/secret.txt /srv/elsewhere/symlink
expect_fail_eperm reach-symlink cat /srv/elsewhere/symlink
expect_fail_eperm reach-proc-pid-root cat /proc/1/root/srv/demo/secret.txt
expect_fail_eperm reach-dot-dot-path cat /srv/elsewhere/../demo/./secret.txt

mount --bind /srv/demo /mnt/bound
expect_fail_eperm reach-bind-mount cat /mnt/bound/secret.txt
umount /mnt/bound

# Renaming the file itself needs write access (see writes.sh); its directory may be renamed.
mv /srv/demo /srv/demo-renamed-parent
expect_fail_eperm reach-renamed-parent cat /srv/demo-renamed-parent/secret.txt
mv /srv/demo-renamed-parent /srv/demo

# Pretending to be the trusted executable.
expect_fail_eperm reach-trusted-through-dynamic-loader /lib64/ld-linux-x86-64.so.2 /usr/local/bin/trusted-reader /srv/demo/secret.txt
mkdir -p /tmp/bin
cp /usr/local/bin/trusted-reader /tmp/bin/trusted-reader
expect_fail_eperm reach-same-name-elsewhere /tmp/bin/trusted-reader /srv/demo/secret.txt
expect_fail_eperm reach-as-other-user as_user tester /opt/tools/reach plain /srv/demo/secret.txt

stop_agent
show_file /tmp/agent.out
