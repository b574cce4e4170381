# The first slice of file boundaries, run against the compiled agent and policies/demo.yaml:
# only /usr/local/bin/trusted-reader may read /srv/demo/secret.txt; root, other users and
# copies of the trusted binary get EPERM, and each denial is one JSON line naming the rule.
. /scenarios/lib.sh

POLICY=/policies/demo.yaml
mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
chmod 0644 /srv/demo/secret.txt # world-readable: only bomfather stands in the way

# Processes already running when the agent starts are judged like any other: by their
# executable. Each waits on a FIFO, then opens the secret once the agent enforces.
mkfifo /tmp/go-trusted /tmp/go-shell
/usr/local/bin/trusted-reader /tmp/go-trusted /srv/demo/secret.txt >/tmp/early-trusted.out 2>&1 &
EARLY_TRUSTED=$!
sh -c 'read x </tmp/go-shell; cat /srv/demo/secret.txt' >/tmp/early-shell.out 2>&1 &
EARLY_SHELL=$!
BF_BG_PIDS="$BF_BG_PIDS $EARLY_TRUSTED $EARLY_SHELL"

start_agent file-agent-starts "$POLICY" || exit 1

echo go >/tmp/go-trusted
echo go >/tmp/go-shell
wait $EARLY_TRUSTED
expect_contains file-running-before-start-trusted-reads "the demo secret" "$(cat /tmp/early-trusted.out)"
wait $EARLY_SHELL
expect_contains file-running-before-start-other-denied "Operation not permitted" "$(cat /tmp/early-shell.out)"

expect_ok file-trusted-reader-reads /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_eq file-trusted-reader-content "the demo secret" "$BF_OUT"
expect_fail_eperm file-root-denied cat /srv/demo/secret.txt
expect_fail_eperm file-other-user-denied as_user tester cat /srv/demo/secret.txt
cp /usr/local/bin/trusted-reader /tmp/trusted-reader-copy
expect_fail_eperm file-copy-of-trusted-binary-denied /tmp/trusted-reader-copy /srv/demo/secret.txt
ln /srv/demo/secret.txt /srv/demo/hardlink-made-after-start
expect_fail_eperm file-hard-link-denied cat /srv/demo/hardlink-made-after-start
expect_fail_eperm file-write-by-root-denied sh -c 'echo overwritten >/srv/demo/secret.txt'
expect_ok file-content-intact /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_eq file-content-unchanged "the demo secret" "$BF_OUT"

# The event for root's cat: one JSON line with the policy line of the rule.
sleep 0.5
line=$(grep -n 'path: /srv/demo/secret.txt' "$POLICY" | head -n1 | cut -d: -f1)
ev=$(grep '"comm":"cat"' /tmp/agent.out | grep '"uid":0' | head -n1)
echo "event: $ev"
expect_contains file-event-action '"action":"deny"' "$ev"
expect_contains file-event-target '"target":"/srv/demo/secret.txt"' "$ev"
expect_contains file-event-exe '"exe":"/bin/busybox"' "$ev"
expect_contains file-event-rule "\"rule\":\"$POLICY:$line\"" "$ev"
expect_contains file-event-access '"access":["read"]' "$ev"
expect_contains file-event-time '"time":"20' "$ev"
ev_user=$(grep '"uid":1000' /tmp/agent.out | head -n1)
expect_contains file-event-other-user '"action":"deny"' "$ev_user"
ev_write=$(grep '"access":\["write"\]' /tmp/agent.out | head -n1)
expect_contains file-event-write '"target":"/srv/demo/secret.txt"' "$ev_write"
allowed=$(grep -c trusted-reader\" /tmp/agent.out)
expect_eq file-no-event-for-allowed-read 0 "$allowed"

# SIGHUP (a closed terminal's signal) does not switch protection off: from another process it is
# refused like every signal that would stop the agent.
expect_fail_eperm file-sighup-refused kill -HUP "$AGENT"
sleep 0.5
if is_running "$AGENT"; then pass file-agent-survives-sighup "still running"; else fail file-agent-survives-sighup "SIGHUP stopped the agent"; fi
expect_fail_eperm file-enforcing-after-sighup cat /srv/demo/secret.txt

stop_agent
expect_eq file-agent-stops-cleanly 0 "$BG_STATUS"
show_file /tmp/agent.err
# The kernel's own counters: the early shell, root, tester, the copy, the hard link, the
# write, the SIGHUP, and the read after it.
expect_contains file-agent-counters "stopped (signed shutdown): 8 denied, 0 monitored, 0 event(s) lost, 0 inheritance failure(s), 0 protection(s) not carried" "$(cat /tmp/agent.err)"
expect_ok file-readable-after-stop cat /srv/demo/secret.txt
