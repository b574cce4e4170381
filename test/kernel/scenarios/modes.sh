# Monitor mode logs what it would block and blocks nothing; enforce mode in the same policy
# still blocks. A policy that cannot be applied entirely is not applied at all.
. /scenarios/lib.sh

mkdir -p /srv/modes
echo enforced >/srv/modes/enforced.txt
echo monitored >/srv/modes/monitored.txt

# All or nothing: a missing executable refuses the whole policy, naming the line.
expect_status modes-half-valid-policy-refused 1 bomfather --policy /policies/half-valid.yaml
line=$(grep -n 'path: /usr/local/bin/not-installed' /policies/half-valid.yaml | cut -d: -f1)
expect_contains modes-half-valid-names-line "/policies/half-valid.yaml:$line:" "$BF_ERR"
expect_contains modes-half-valid-says-why "does not exist on this host" "$BF_ERR"
expect_ok modes-half-valid-nothing-applied cat /srv/modes/enforced.txt

start_agent modes-agent-starts /policies/monitor.yaml || exit 1
expect_fail_eperm modes-enforce-rule-blocks cat /srv/modes/enforced.txt
expect_ok modes-monitor-rule-allows cat /srv/modes/monitored.txt
expect_eq modes-monitor-content monitored "$BF_OUT"
sleep 0.5
ev=$(grep 'monitored.txt' /tmp/agent.out | head -n1)
expect_contains modes-monitor-event-action '"action":"monitor"' "$ev"
line=$(grep -n 'path: /srv/modes/monitored.txt' /policies/monitor.yaml | cut -d: -f1)
expect_contains modes-monitor-event-rule "\"rule\":\"/policies/monitor.yaml:$line\"" "$ev"
ev=$(grep 'enforced.txt' /tmp/agent.out | head -n1)
expect_contains modes-enforce-event-deny '"action":"deny"' "$ev"
stop_agent
show_file /tmp/agent.out
