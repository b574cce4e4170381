# A long-running agent gets a new policy generation many times (a reload, new addresses for its
# host names, a new walk of its directories): each is applied, protection holds throughout, and an
# event still names the line of the policy in force. The agent's registry of its own BPF objects
# (bf_objects_v1, 256 entries) gains every new generation's maps: what the kernel has freed since
# must leave it, or it fills and the agent can no longer apply anything.
. /scenarios/lib.sh

KEY=/opt/keys/test.pem
RELOADS=40
mkdir -p /srv/demo /var/log/bomfather
echo "the demo secret" >/srv/demo/secret.txt
echo "the other secret" >/srv/demo/other.txt
chmod 0644 /srv/demo/*.txt
cp /policies/control.yaml /tmp/reloads.yaml
cp /policies/control.yaml /tmp/first.yaml
cp /policies/control-next.yaml /tmp/next.yaml

start_agent reloads-agent-starts /tmp/reloads.yaml || exit 1
i=1
failed=""
while [ $i -le $RELOADS ]; do
  if [ $((i % 2)) -eq 1 ]; then p=/tmp/next.yaml; else p=/tmp/first.yaml; fi
  bf_capture bomfather reload --policy "$p" --sign "$KEY"
  if [ "$BF_STATUS" -ne 0 ]; then
    failed="reload $i of $RELOADS: status $BF_STATUS: $BF_ERR"
    break
  fi
  i=$((i + 1))
done
[ -z "$failed" ] && pass reloads-all-applied "$RELOADS reloads" || fail reloads-all-applied "$failed"
generation=$(echo "$BF_OUT $BF_ERR" | sed -n 's/.*as generation \([0-9]*\).*/\1/p' | tail -n1)
[ "${generation:-0}" -gt "$RELOADS" ] && pass reloads-generations "generation $generation" || fail reloads-generations "last reply: $BF_OUT $BF_ERR"
expect_fail_eperm reloads-still-protected cat /srv/demo/secret.txt
expect_ok reloads-trusted-reads /usr/local/bin/trusted-reader /srv/demo/secret.txt
# The last reload put first.yaml's rules in force: the secret's rule is line 6 of the policy file.
sleep 1
ev=$(grep '"action":"deny"' /var/log/bomfather/events.jsonl | tail -n1)
expect_contains reloads-event-names-line "\"rule\":\"/tmp/reloads.yaml:6\"" "$ev"
# The last generation's rule table is on disk once the agent is idle (written after the reply), for
# its events named after it leaves the agent's memory or by a later run.
for _ in $(seq 50); do [ -s "/run/bomfather/generation-$generation.json" ] && break; sleep 0.2; done
expect_contains reloads-table-recorded '"path":"/srv/demo/secret.txt","file":"/tmp/reloads.yaml","line":6' "$(cat "/run/bomfather/generation-$generation.json" 2>&1)"
stop_agent
