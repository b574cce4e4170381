# Enforcement outlives the agent process: the kernel side is pinned, the policy in force is a
# generation, and a new start adopts what is pinned and replaces it with no gap. The agent's
# process is killed here with self-protection in monitor mode, standing for the ways a process
# can die that no hook sees (a bug, a crash).
. /scenarios/lib.sh

POLICY=/policies/protection-monitor.yaml
mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
chmod 0644 /srv/demo/secret.txt
line=$(grep -n 'path: /srv/demo/secret.txt' "$POLICY" | head -n1 | cut -d: -f1)

start_agent life-agent-starts "$POLICY" || exit 1
expect_contains life-first-generation "policy generation 1" "$(cat /tmp/agent.err)"
expect_fail_eperm life-denied cat /srv/demo/secret.txt
sleep 0.5
expect_contains life-event-names-generation '"generation":1' "$(grep '"comm":"cat"' /tmp/agent.out | head -n1)"

# One agent per host.
expect_status life-second-agent-refused 4 bomfather --policy "$POLICY"
expect_contains life-second-agent-says-why "Another bomfather agent is running" "$BF_ERR"
expect_fail_eperm life-denied-after-second-agent cat /srv/demo/secret.txt

# The agent's process dies: the pinned programs and maps go on enforcing the same generation.
kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null
ls -la /sys/fs/bpf/bomfather
expect_fail_eperm life-enforced-after-agent-died cat /srv/demo/secret.txt
expect_ok life-trusted-reads-after-agent-died /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_fail_eperm life-write-refused-after-agent-died sh -c 'echo overwritten >/srv/demo/secret.txt'

# A start with another policy does not replace what the kernel enforces.
expect_status life-other-policy-refused 4 bomfather --policy /policies/writes.yaml
expect_contains life-other-policy-names-policy-in-force "$POLICY" "$BF_ERR"
expect_fail_eperm life-enforced-after-refusal cat /srv/demo/secret.txt

# A start with the same policy adopts the pins and replaces them: a loop of opens running across
# the restart is denied every time.
start_bg /tmp/loop.log sh -c 'n=0; while [ ! -f /tmp/stop-loop ]; do cat /srv/demo/secret.txt >/dev/null 2>&1 && echo LEAK; n=$((n + 1)); done; echo "opens $n"'
LOOP=$BG_PID
sleep 1
start_agent life-agent-adopts "$POLICY" || exit 1
expect_contains life-adoption-said "adopted the kernel side" "$(cat /tmp/agent.err)"
expect_contains life-next-generation "policy generation 2" "$(cat /tmp/agent.err)"
sleep 1
touch /tmp/stop-loop
wait "$LOOP"
show_file /tmp/loop.log
expect_not_contains life-no-gap-across-restart LEAK "$(cat /tmp/loop.log)"
expect_contains life-loop-ran "opens" "$(cat /tmp/loop.log)"
expect_eq life-earlier-programs-released 1 "$(ls /sys/fs/bpf/bomfather | grep "^link-.*-file_open$" | wc -l)"
expect_fail_eperm life-denied-by-new-run cat /srv/demo/secret.txt
# A denial decided while no agent ran is reported by the next run, with its generation's policy line.
sleep 0.5
ev=$(grep '"generation":1' /tmp/agent.out | head -n1)
echo "event of generation 1: $ev"
expect_contains life-earlier-generation-event-rule "\"rule\":\"$POLICY:$line\"" "$ev"
expect_ok life-trusted-reads-after-adoption /usr/local/bin/trusted-reader /srv/demo/secret.txt

# A clean stop removes everything.
stop_agent
expect_eq life-stops-cleanly 0 "$BG_STATUS"
expect_ok life-readable-after-stop cat /srv/demo/secret.txt
expect_eq life-pins-removed "" "$(ls /sys/fs/bpf/bomfather 2>/dev/null)"

# A file renamed over the protected one once, right after the agent named it (its probe opens the
# directory after it stat'ed the file) and before its generation is in force: once the agent says
# it enforces, the file at the path is protected (one more generation), and it says so.
echo "swapped in" >/srv/demo/.swap
start_bg /tmp/swap.log /opt/tools/reach swap-on-open /srv/demo /srv/demo/.swap /srv/demo/secret.txt
SWAPPER=$BG_PID
wait_for_line /tmp/swap.log "^watching" 30 "$SWAPPER" || fail life-swap-setup "reach swap-on-open did not start"
start_agent life-swapped-agent-starts "$POLICY" || exit 1
wait "$SWAPPER"
show_file /tmp/swap.log
expect_contains life-swapped-during-start "swapped" "$(cat /tmp/swap.log)"
expect_contains life-swapped-said '"/srv/demo/secret.txt" was replaced while the policy was applied' "$(cat /tmp/agent.err)"
expect_fail_eperm life-swapped-file-denied cat /srv/demo/secret.txt
bf_capture /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_eq life-swapped-file-trusted-reads "swapped in" "$BF_OUT"
stop_agent
expect_eq life-swapped-stops-cleanly 0 "$BG_STATUS"

# The same through a symbolic link: the policy names /srv/linked/secret, a link to a file in
# another directory, and the file is renamed over in that directory right after the agent named it.
# The link's own directory did not change, but the file the path leads to did: the agent looks
# (a watch of the link's directory cannot vouch for its target) and protects the file now there.
mkdir -p /srv/linked /srv/target
echo "the linked secret" >/srv/target/real
ln -sfn /srv/target/real /srv/linked/secret
echo "swapped at the target" >/srv/target/.new
sed 's|path: /srv/demo/secret.txt|path: /srv/linked/secret|' "$POLICY" >/tmp/linked.yaml
start_bg /tmp/swap-link.log /opt/tools/reach swap-on-open /srv/linked /srv/target/.new /srv/target/real
SWAPPER=$BG_PID
wait_for_line /tmp/swap-link.log "^watching" 30 "$SWAPPER" || fail life-link-swap-setup "reach swap-on-open did not start"
start_agent life-link-swapped-agent-starts /tmp/linked.yaml || exit 1
wait "$SWAPPER"
show_file /tmp/swap-link.log
expect_contains life-link-swapped-during-start "swapped" "$(cat /tmp/swap-link.log)"
expect_contains life-link-swapped-said '"/srv/linked/secret" was replaced while the policy was applied' "$(cat /tmp/agent.err)"
expect_fail_eperm life-link-swapped-file-denied cat /srv/linked/secret
expect_fail_eperm life-link-swapped-target-denied cat /srv/target/real
bf_capture /usr/local/bin/trusted-reader /srv/linked/secret
expect_eq life-link-swapped-trusted-reads "swapped at the target" "$BF_OUT"
stop_agent
expect_eq life-link-swapped-stops-cleanly 0 "$BG_STATUS"

# A protected file renamed over again and again while the agent starts: each generation protects
# the file it found at the path, and the next file is renamed over it before that generation is in
# force (the programs attached, the kernel saw nothing). The agent does not claim to enforce what it
# does not: it refuses to start, names the path, and leaves nothing behind. Once the renames stop,
# it starts, and the file then at the path is protected (renaming another over it is refused).
rm -f /tmp/stop-race
start_bg /tmp/race.log sh -c 'n=0; while [ ! -f /tmp/stop-race ]; do echo "racer $n" >/srv/demo/.race && mv -f /srv/demo/.race /srv/demo/secret.txt; n=$((n + 1)); done; echo "renames $n"'
RACER=$BG_PID
sleep 1
expect_status life-replaced-throughout-refused 3 timeout 120 bomfather --policy "$POLICY"
expect_contains life-replaced-throughout-names-path 'Cannot protect "/srv/demo/secret.txt"' "$BF_ERR"
expect_contains life-replaced-throughout-says-why "was replaced again each time the agent protected the one it found" "$BF_ERR"
touch /tmp/stop-race
wait "$RACER"
show_file /tmp/race.log
expect_eq life-replaced-throughout-nothing-left "" "$(ls /sys/fs/bpf/bomfather 2>/dev/null)"
expect_ok life-replaced-throughout-readable cat /srv/demo/secret.txt
start_agent life-starts-once-renames-stop "$POLICY" || exit 1
expect_fail_eperm life-file-then-at-path-denied cat /srv/demo/secret.txt
expect_ok life-file-then-at-path-trusted-reads /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_fail_eperm life-rename-over-refused sh -c 'echo renamed >/srv/demo/.race && mv -f /srv/demo/.race /srv/demo/secret.txt'
stop_agent
expect_eq life-stops-cleanly-again 0 "$BG_STATUS"
