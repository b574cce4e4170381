# Threats "replaying a captured shutdown request, signing with a key not in the policy, a signature
# meant for another agent run": only a key listed under agent.keys, allowed the action, stops or
# reloads the agent, once per challenge of this run. Each refusal leaves protection in place. A
# reload is checked before anything changes and takes effect at once, with no moment unprotected;
# the air-gapped three steps work; events go to the file the policy names, across log rotation.
. /scenarios/lib.sh

KEY=/opt/keys/test.pem         # listed: shutdown and reload
RELOADER=/opt/keys/reloader.pem # listed: reload only
STRANGER=/opt/keys/stranger.pem # not listed
mkdir -p /srv/demo /var/log/bomfather
echo "the demo secret" >/srv/demo/secret.txt
echo "the other secret" >/srv/demo/other.txt
chmod 0644 /srv/demo/*.txt
cp /policies/control-next.yaml /tmp/next.yaml
cp /policies/control-bad.yaml /tmp/bad.yaml
cp /policies/control.yaml /tmp/first.yaml

still() { expect_fail_eperm "ctl-still-protected-$1" cat /srv/demo/secret.txt; }
alive() { is_running "$AGENT" && pass "ctl-alive-$1" "running" || fail "ctl-alive-$1" "the agent stopped"; }

start_agent ctl-agent-starts /policies/control.yaml || exit 1
expect_ok ctl-other-unprotected cat /srv/demo/other.txt

# Refused: a key the policy does not list; a key not allowed to stop it; nonsense.
expect_status ctl-unknown-key-refused 1 bomfather shutdown --sign "$STRANGER"
expect_contains ctl-unknown-key-says-why "unknown-key" "$BF_ERR"
expect_status ctl-reload-only-key-cannot-stop 1 bomfather shutdown --sign "$RELOADER"
expect_contains ctl-reload-only-key-says-why "key-not-allowed" "$BF_ERR"
expect_status ctl-malformed-refused 1 bomfather shutdown --response "bomfather-response-v1:AAAA"
alive refusals
still refusals

# The air-gapped steps: challenge here, sign elsewhere (no agent needed), respond here. A response
# is good once; one signed for a shutdown does not reload.
expect_ok ctl-challenge-printed bomfather reload --policy /tmp/next.yaml --challenge
echo "$BF_OUT" >/tmp/challenge.txt
expect_contains ctl-challenge-text "bomfather-challenge-v1:" "$BF_OUT"
expect_ok ctl-signed-offline bomfather sign --key "$KEY" --policy /tmp/next.yaml /tmp/challenge.txt
echo "$BF_OUT" >/tmp/response.txt
expect_ok ctl-shutdown-challenge bomfather shutdown --challenge
echo "$BF_OUT" >/tmp/shutdown-challenge.txt
bf_capture bomfather sign --key "$KEY" /tmp/shutdown-challenge.txt
echo "$BF_OUT" >/tmp/shutdown-response.txt
expect_status ctl-other-action-refused 1 bomfather reload --policy /tmp/next.yaml --response /tmp/shutdown-response.txt
alive other-action

# A reload under a loop of opens: the secret stays refused all along; the new policy protects
# other.txt at once and the old rule keeps holding (next.yaml keeps it).
start_bg /tmp/loop.log sh -c 'while [ ! -f /tmp/stop-loop ]; do cat /srv/demo/secret.txt >/dev/null 2>&1 && echo LEAK; done; echo done'
LOOP=$BG_PID
expect_ok ctl-reload-offline-accepted bomfather reload --policy /tmp/next.yaml --response /tmp/response.txt
expect_contains ctl-reload-says-generation "generation 2" "$BF_OUT $BF_ERR"
expect_fail_eperm ctl-added-rule-holds-at-once cat /srv/demo/other.txt
still after-reload
expect_status ctl-replay-refused 1 bomfather reload --policy /tmp/next.yaml --response /tmp/response.txt
expect_contains ctl-replay-says-why "replayed" "$BF_ERR"
touch /tmp/stop-loop
wait "$LOOP"
expect_not_contains ctl-no-gap-during-reload LEAK "$(cat /tmp/loop.log)"
expect_eq ctl-policy-file-replaced "$(cat /tmp/next.yaml | sha256sum | cut -d' ' -f1)" "$(cat /policies/control.yaml | sha256sum | cut -d' ' -f1)"

# A bad reload changes nothing, and says why.
expect_status ctl-bad-reload-refused 1 bomfather reload --policy /tmp/bad.yaml --sign "$RELOADER"
expect_contains ctl-bad-reload-diagnostics "not-installed" "$BF_ERR"
expect_fail_eperm ctl-bad-reload-changed-nothing cat /srv/demo/other.txt
still after-bad-reload

# A reload that drops a rule: it stops at once.
expect_ok ctl-reload-back bomfather reload --policy /tmp/first.yaml --sign "$RELOADER"
expect_ok ctl-removed-rule-stops-at-once cat /srv/demo/other.txt
still after-reload-back

# Events went to the file the policy names; a rotation (rename, then a new file) does not lose them.
expect_ok ctl-trusted-reader-reads /usr/local/bin/trusted-reader /srv/demo/secret.txt
sleep 1.5
expect_contains ctl-events-in-file '"op":"open"' "$(cat /var/log/bomfather/events.jsonl)"
expect_contains ctl-control-events-in-file '"kind":"control"' "$(cat /var/log/bomfather/events.jsonl)"
mv /var/log/bomfather/events.jsonl /var/log/bomfather/events.jsonl.1
sleep 1.5
cat /srv/demo/secret.txt 2>/dev/null
sleep 1.5
expect_contains ctl-events-after-rotation '"target":"/srv/demo/secret.txt"' "$(cat /var/log/bomfather/events.jsonl 2>/dev/null)"
expect_contains ctl-allow-events-when-asked '"action":"allow"' "$(cat /var/log/bomfather/events.jsonl /var/log/bomfather/events.jsonl.1 2>/dev/null)"

# A response from an earlier run of the agent is refused by the next one.
expect_ok ctl-challenge-for-later bomfather shutdown --challenge
echo "$BF_OUT" >/tmp/old-challenge.txt
bf_capture bomfather sign --key "$KEY" /tmp/old-challenge.txt
echo "$BF_OUT" >/tmp/old-response.txt
# The reply comes once enforcement has ended: root reads the file at once, while the agent may
# still be detaching its programs.
bf_capture bomfather shutdown --sign /opt/keys/test.pem
expect_eq ctl-shutdown-accepted 0 "$BF_STATUS"
expect_ok ctl-shutdown-ends-enforcement-at-once cat /srv/demo/secret.txt
wait_agent_exit
expect_eq ctl-signed-shutdown-stops 0 "$BG_STATUS"
expect_contains ctl-shutdown-event-names-key '"outcome":"accepted","message":"enforcement ended; the agent detaches its programs and exits (key \"test\")","key":"test"' "$(cat /var/log/bomfather/events.jsonl)"
start_agent ctl-agent-starts-again /policies/control.yaml || exit 1
expect_status ctl-other-run-refused 1 bomfather shutdown --response /tmp/old-response.txt
expect_contains ctl-other-run-says-why "run" "$BF_ERR"
alive other-run
stop_agent
expect_eq ctl-stops-again 0 "$BG_STATUS"
