# Threat "flooding the agent with events until it drops them": enforcement never depends on
# the agent reading events. With the agent stopped (SIGSTOP, which its self-protection lets
# through in monitor mode only), denials go on; thousands of them overflow the ring buffer, and
# the agent says how many events it lost when it resumes.
. /scenarios/lib.sh

mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt

start_agent flood-agent-starts /policies/protection-monitor.yaml || exit 1

kill -STOP "$AGENT"
expect_fail_eperm flood-denied-while-agent-stopped cat /srv/demo/secret.txt
bf_capture /opt/tools/reach flood /srv/demo/secret.txt 5000
expect_eq flood-every-open-denied "0 opened, 5000 denied" "$BF_OUT"
kill -CONT "$AGENT"
if wait_for_line /tmp/agent.err "event\(s\) lost \(ring buffer full\); enforcement is unaffected" 30 "$AGENT"; then
  pass flood-lost-events-reported "$(grep lost /tmp/agent.err | head -n1)"
else
  show_file /tmp/agent.err
  fail flood-lost-events-reported "no warning about lost events"
fi
expect_fail_eperm flood-still-enforcing cat /srv/demo/secret.txt
stop_agent
show_file /tmp/agent.err
