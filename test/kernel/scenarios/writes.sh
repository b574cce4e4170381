# Changing or removing a protected file needs write access: truncate, chmod, chown, utimes,
# unlink, rename (of it, or of another file over it). And a descriptor of it cannot be handed
# to an unnamed process, over a Unix socket (SCM_RIGHTS) or with pidfd_getfd.
. /scenarios/lib.sh

F=/srv/writes/secret.txt
mkdir -p /srv/writes
echo "original content" >$F
echo "public" >/srv/writes/public.txt
echo "fake" >/srv/writes/fake.txt

start_agent writes-agent-starts /policies/writes.yaml || exit 1

for op in truncate chmod chown utimes; do
  expect_ok "writes-$op-works-on-unprotected" /opt/tools/reach "$op" /srv/writes/public.txt
  expect_fail_eperm "writes-$op-by-root-denied" /opt/tools/reach "$op" $F
done
# A read grant is no write grant.
expect_fail_eperm writes-truncate-by-reader-denied /usr/local/bin/fd-holder truncate $F
expect_fail_eperm writes-chmod-by-reader-denied /usr/local/bin/fd-holder chmod $F
expect_fail_eperm writes-unlink-denied rm -f $F
ln $F /srv/writes/hardlink
expect_fail_eperm writes-unlink-through-hard-link-denied rm -f /srv/writes/hardlink
expect_fail_eperm writes-rename-denied mv $F /srv/writes/renamed.txt
expect_fail_eperm writes-replace-by-rename-denied mv /srv/writes/fake.txt $F
expect_fail_eperm writes-overwrite-denied sh -c "echo overwritten >$F"
expect_ok writes-content-intact /usr/local/bin/trusted-reader $F
expect_eq writes-content-unchanged "original content" "$BF_OUT"

# The writer may do all of it, and the file stays protected under its new name.
expect_ok writes-writer-appends /opt/trusted/busybox sh -c "echo appended >>$F"
expect_ok writes-writer-chmod /opt/trusted/busybox chmod 0600 $F
expect_ok writes-writer-renames /opt/trusted/busybox mv $F /srv/writes/moved.txt
expect_fail_eperm writes-renamed-still-protected cat /srv/writes/moved.txt
expect_ok writes-renamed-still-trusted /usr/local/bin/trusted-reader /srv/writes/moved.txt
expect_eq writes-writer-content "original content
appended" "$BF_OUT"
expect_ok writes-writer-renames-back /opt/trusted/busybox mv /srv/writes/moved.txt $F

# Atomic replacement by the writer (write a temporary file, rename it over the protected one):
# the new file at the protected path is protected too.
expect_ok writes-writer-replaces-atomically /opt/trusted/busybox sh -c "echo replaced >$F.tmp && mv $F.tmp $F"
expect_fail_eperm writes-replaced-file-protected cat $F
expect_ok writes-replaced-file-trusted /usr/local/bin/trusted-reader $F
expect_eq writes-replaced-file-content replaced "$BF_OUT"

# Descriptors: a named program holds the file open; root takes or receives the descriptor. (Nobody
# takes a descriptor from a program that holds a grant at all: runtime.sh. The unprotected file is
# held by a program the policy does not name.)
/opt/tools/reach hold /srv/writes/public.txt >/tmp/hold-public.out &
PUB=$!
/usr/local/bin/fd-holder hold $F >/tmp/hold-secret.out &
SEC=$!
BF_BG_PIDS="$BF_BG_PIDS $PUB $SEC"
wait_for_line /tmp/hold-public.out "holding fd" 10 $PUB
wait_for_line /tmp/hold-secret.out "holding fd" 10 $SEC
fdnum() { sed -n 's/^holding fd //p' "$1"; }
expect_ok writes-pidfd-getfd-works-on-unprotected /opt/tools/reach getfd $PUB "$(fdnum /tmp/hold-public.out)"
expect_fail_eperm writes-pidfd-getfd-denied /opt/tools/reach getfd $SEC "$(fdnum /tmp/hold-secret.out)"

/usr/local/bin/fd-holder send-fd /srv/writes/public.txt /tmp/public.sock >/tmp/send-public.out 2>&1 &
BF_BG_PIDS="$BF_BG_PIDS $!"
wait_for_line /tmp/send-public.out listening 10 $!
expect_ok writes-scm-rights-works-on-unprotected /opt/tools/reach recv-fd /tmp/public.sock
/usr/local/bin/fd-holder send-fd $F /tmp/secret.sock >/tmp/send-secret.out 2>&1 &
BF_BG_PIDS="$BF_BG_PIDS $!"
wait_for_line /tmp/send-secret.out listening 10 $!
expect_fail_eperm writes-scm-rights-denied /opt/tools/reach recv-fd /tmp/secret.sock

sleep 0.5
for op in setattr unlink rename receive; do
  ev=$(grep "\"op\":\"$op\"" /tmp/agent.out | head -n1)
  expect_contains "writes-event-$op" "\"target\":\"" "$ev"
done
ev=$(grep '"op":"unlink"' /tmp/agent.out | head -n1)
expect_contains writes-event-unlink-names-file "\"target\":\"$F\"" "$ev"
expect_contains writes-event-unlink-access '"access":["write"]' "$ev"
stop_agent
show_file /tmp/agent.out
