# The agent keeps enforcing when whoever reads its events goes away (stdout is a pipe whose
# reader exited): a security agent must not die of EPIPE.
. /scenarios/lib.sh

mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt

: >/tmp/pipe-agent.err
(bomfather --policy /policies/demo.yaml 2>/tmp/pipe-agent.err | head -n 1 >/tmp/first-event) &
BF_BG_PIDS="$BF_BG_PIDS $!"
if ! wait_for_line /tmp/pipe-agent.err "^bomfather: enforcing" 120; then
  show_file /tmp/pipe-agent.err
  fail pipe-agent-starts "the agent did not start"
  exit 1
fi
pass pipe-agent-starts "started with its events piped into head -n 1"
AGENT=$(pidof bomfather)
expect_fail_eperm pipe-first-denial cat /srv/demo/secret.txt
sleep 1 # head prints the first event and exits: the pipe now has no reader
expect_contains pipe-first-event-read '"action":"deny"' "$(cat /tmp/first-event)"
expect_fail_eperm pipe-second-denial cat /srv/demo/secret.txt
expect_fail_eperm pipe-third-denial cat /srv/demo/secret.txt
sleep 1.5
if is_running "$AGENT"; then pass pipe-agent-survives "pid $AGENT still running"; else fail pipe-agent-survives "the agent exited"; fi
expect_fail_eperm pipe-still-enforcing cat /srv/demo/secret.txt
show_file /tmp/pipe-agent.err
expect_contains pipe-agent-says-so "enforcement continues" "$(cat /tmp/pipe-agent.err)"
stop_agent
