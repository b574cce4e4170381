# Protected directories: a rule on a directory covers everything below it, at any depth, by inode:
# what was there at start, and what is created, linked or moved in while the agent runs. Each
# technique is first shown to work outside the tree, so a denial is the agent's doing.
. /scenarios/lib.sh

T=/srv/p/tree
W=/opt/trusted/busybox # the writer
DEEP=$T/d1/d2/d3/d4/d5/d6/d7/deep.txt
mkdir -p $T/d1/d2/d3/d4/d5/d6/d7 $T/shared /srv/dirs-elsewhere /srv/outdir/sub /srv/empty /mnt/bound
echo "top secret" >$T/a.txt
echo "second" >$T/b.txt
echo "deep secret" >$DEEP
echo "writer only" >$T/writer-only.txt
echo "shared" >$T/shared/s.txt
echo "outside" >/srv/outside.txt
echo "to link in" >/srv/link-in.txt
echo "to move in" >/srv/move-in.txt
echo "moved with its directory" >/srv/outdir/sub/f.txt
ln $T/a.txt /srv/dirs-elsewhere/hardlink-made-before-start

start_agent dirs-agent-starts /policies/dirs.yaml || exit 1
# What appeared between the agent's walk and its programs is labelled by a second walk.
wait_for_line /tmp/agent.err "walked the protected directories again" 60 "$AGENT"
expect_ok dirs-walked-again-after-start grep -q "walked the protected directories again" /tmp/agent.err
expect_contains dirs-start-names-directories "protected directories (everything below them, and what is created, linked or moved in later): /srv/p/tree/ (" "$(cat /tmp/agent.err)"

# What was there at start, at any depth; the directory itself cannot be listed.
expect_ok dirs-outside-readable cat /srv/outside.txt
expect_fail_eperm dirs-top-file-denied cat $T/a.txt
expect_fail_eperm dirs-deep-file-denied cat $DEEP
expect_fail_eperm dirs-listing-denied ls $T
expect_fail_eperm dirs-subdir-listing-denied ls $T/d1
expect_fail_eperm dirs-other-user-denied as_user tester cat $T/a.txt
expect_ok dirs-reader-reads-deep /usr/local/bin/trusted-reader $DEEP
expect_eq dirs-reader-content "deep secret" "$BF_OUT"
expect_ok dirs-writer-lists $W ls $T
expect_fail_eperm dirs-write-by-root-denied sh -c "echo overwritten >$T/b.txt"

# Every way to the inode: links, bind mounts, /proc/PID/root, O_PATH, file handles, io_uring.
expect_fail_eperm dirs-hard-link-made-before-start cat /srv/dirs-elsewhere/hardlink-made-before-start
expect_ok dirs-root-may-link-out ln $T/b.txt /srv/dirs-elsewhere/hardlink-made-after-start
expect_fail_eperm dirs-hard-link-made-after-start cat /srv/dirs-elsewhere/hardlink-made-after-start
expect_fail_eperm dirs-proc-root cat /proc/1/root$DEEP
for mode in plain opath-reopen handle io-uring; do
  expect_ok "dirs-$mode-works-outside" /opt/tools/reach "$mode" /srv/outside.txt
  expect_fail_eperm "dirs-$mode-denied" /opt/tools/reach "$mode" $DEEP
done
mount --bind $T/d1 /mnt/bound
expect_fail_eperm dirs-bind-mount-of-subdir cat /mnt/bound/d2/d3/d4/d5/d6/d7/deep.txt
umount /mnt/bound
mount --bind $T /mnt/bound
expect_fail_eperm dirs-bind-mount-of-directory cat /mnt/bound/a.txt
umount /mnt/bound
# An overlay mount with the protected directory as its lower layer: the real file's open is decided.
mkdir -p /tmp/ov/u /tmp/ov/w /mnt/ov
if load_module overlay && mount -t overlay overlay -o lowerdir=$T,upperdir=/tmp/ov/u,workdir=/tmp/ov/w /mnt/ov; then
  expect_fail_eperm dirs-overlay-of-directory cat /mnt/ov/d1/d2/d3/d4/d5/d6/d7/deep.txt
  expect_ok dirs-reader-through-overlay /usr/local/bin/trusted-reader /mnt/ov/a.txt
  umount /mnt/ov
else
  fail dirs-overlay-of-directory "cannot mount an overlay of $T"
fi
expect_ok dirs-parent-renamed mv /srv/p /srv/p-renamed
expect_fail_eperm dirs-renamed-parent-denied cat /srv/p-renamed/tree/a.txt
mv /srv/p-renamed /srv/p

# Root changes nothing below it: no new entries, no removal, no rename, no move out, no mount.
expect_fail_eperm dirs-root-create-denied touch $T/new-by-root.txt
expect_fail_eperm dirs-root-mkdir-denied mkdir $T/d1/new-dir
expect_fail_eperm dirs-root-unlink-denied rm -f $T/b.txt
expect_fail_eperm dirs-root-rmdir-denied rmdir $T/d1/d2/d3/d4/d5/d6/d7
expect_fail_eperm dirs-root-rename-denied mv $T/b.txt $T/b-renamed.txt
expect_fail_eperm dirs-root-move-out-denied mv $T/b.txt /srv/dirs-elsewhere/b.txt
expect_fail_eperm dirs-root-move-in-denied mv /srv/outside.txt $T/outside.txt
expect_fail_eperm dirs-root-link-in-denied ln /srv/outside.txt $T/linked-by-root.txt
expect_ok dirs-mount-works-outside sh -c "mount -t tmpfs none /mnt/bound && umount /mnt/bound"
bf_capture mount -t tmpfs none $T/d1 # busybox says EPERM as "permission denied (are you root?)"
[ "$BF_STATUS" -ne 0 ] && [ -e $DEEP ] && pass dirs-root-mount-denied "$BF_ERR" || fail dirs-root-mount-denied "status $BF_STATUS: $BF_ERR"
expect_ok dirs-content-intact /usr/local/bin/trusted-reader $T/b.txt
expect_eq dirs-content-unchanged "second" "$BF_OUT"

# The directory a rule names stays where it is, whoever asks (emptied or not).
expect_fail_eperm dirs-writer-cannot-rename-directory $W mv $T /srv/p/tree-moved
expect_fail_eperm dirs-root-cannot-rename-directory mv $T /srv/p/tree-moved
expect_fail_eperm dirs-writer-cannot-remove-empty-directory $W rmdir /srv/empty
expect_ok dirs-empty-directory-still-there test -d /srv/empty
bf_capture $W mount -t tmpfs none /srv/empty # busybox says EPERM as "permission denied (are you root?)"
[ "$BF_STATUS" -ne 0 ] && ! grep -q " /srv/empty " /proc/mounts && pass dirs-writer-cannot-mount-over-directory "$BF_ERR" || fail dirs-writer-cannot-mount-over-directory "status $BF_STATUS: $BF_ERR"

# What the writer creates later is protected as it appears: files, directories, their content.
expect_ok dirs-writer-creates $W sh -c "echo new >$T/new.txt && mkdir -p $T/n1/n2 && echo nested >$T/n1/n2/f.txt"
expect_fail_eperm dirs-new-file-denied cat $T/new.txt
expect_fail_eperm dirs-new-nested-file-denied cat $T/n1/n2/f.txt
expect_ok dirs-reader-reads-new /usr/local/bin/trusted-reader $T/n1/n2/f.txt
expect_eq dirs-reader-new-content "nested" "$BF_OUT"
expect_ok dirs-writer-creates-in-empty $W sh -c "echo fresh >/srv/empty/fresh.txt"
expect_fail_eperm dirs-new-in-empty-denied cat /srv/empty/fresh.txt

# Linked and moved in: the file takes the rule (also at its old name).
expect_ok dirs-link-in-readable-before cat /srv/link-in.txt
expect_ok dirs-writer-links-in $W ln /srv/link-in.txt $T/linked-in.txt
expect_fail_eperm dirs-linked-in-denied cat $T/linked-in.txt
expect_fail_eperm dirs-linked-in-old-name-denied cat /srv/link-in.txt
expect_ok dirs-writer-moves-in $W mv /srv/move-in.txt $T/moved-in.txt
expect_fail_eperm dirs-moved-in-denied cat $T/moved-in.txt
# A directory moved in brings what is below it: refused at once, and after the agent's new walk.
walks=$(grep -c "walked the protected directories again" /tmp/agent.err)
expect_ok dirs-outdir-readable-before cat /srv/outdir/sub/f.txt
expect_ok dirs-writer-moves-directory-in $W mv /srv/outdir $T/outdir
expect_fail_eperm dirs-moved-directory-content-denied-at-once cat $T/outdir/sub/f.txt
wait_for_line /tmp/agent.err "walked the protected directories again" 60 "$AGENT"
deadline=$(($(date +%s) + 60))
while [ "$(grep -c "walked the protected directories again" /tmp/agent.err)" -le "$walks" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
expect_ok dirs-agent-walked-after-move test "$(grep -c "walked the protected directories again" /tmp/agent.err)" -gt "$walks"
expect_fail_eperm dirs-moved-directory-content-denied-after-walk cat $T/outdir/sub/f.txt
expect_ok dirs-reader-reads-moved-directory /usr/local/bin/trusted-reader $T/outdir/sub/f.txt
# Moved out by the writer: it stays protected (the agent never unprotects what a rename moved).
expect_ok dirs-writer-moves-out $W mv $T/moved-in.txt /srv/dirs-elsewhere/moved-out.txt
expect_fail_eperm dirs-moved-out-still-denied cat /srv/dirs-elsewhere/moved-out.txt

# The more specific rule decides: a file rule inside (the reader is not granted it), a monitored
# directory inside (reads let through, reported).
expect_ok dirs-writer-reads-writer-only $W cat $T/writer-only.txt
expect_fail_eperm dirs-reader-denied-file-rule-inside /usr/local/bin/trusted-reader $T/writer-only.txt
expect_ok dirs-monitored-subdirectory-lets-root-read cat $T/shared/s.txt
expect_ok dirs-writer-creates-in-monitored $W sh -c "echo later >$T/shared/later.txt"
expect_ok dirs-monitored-new-file-lets-root-read cat $T/shared/later.txt

# Events: the file as reached, the directory's rule and its policy line.
sleep 0.5
line=$(grep -n "path: $T/\$" /policies/dirs.yaml | head -n1 | cut -d: -f1)
ev=$(grep '"comm":"cat"' /tmp/agent.out | grep '"action":"deny"' | grep -F "\"target\":\"$DEEP\"" | head -n1)
echo "event: $ev"
expect_contains dirs-event-target "\"target\":\"$DEEP\"" "$ev"
expect_contains dirs-event-rule "\"rule\":\"/policies/dirs.yaml:$line\"" "$ev"
mline=$(grep -n "path: $T/shared/" /policies/dirs.yaml | head -n1 | cut -d: -f1)
mev=$(grep '"action":"monitor"' /tmp/agent.out | grep -F "\"target\":\"$T/shared/s.txt\"" | head -n1)
echo "monitor event: $mev"
expect_contains dirs-monitor-event-rule "\"rule\":\"/policies/dirs.yaml:$mline\"" "$mev"

stop_agent
expect_eq dirs-agent-stops-cleanly 0 "$BG_STATUS"
expect_ok dirs-readable-after-stop cat $DEEP
show_file /tmp/agent.err
