# Threat "pretending to be a trusted executable" by changing what the kernel records as this
# process's executable: prctl(PR_SET_MM, PR_SET_MM_EXE_FILE) is refused while the agent runs,
# and other prctl calls keep working.
. /scenarios/lib.sh

mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt

start_agent identity-agent-starts /policies/demo.yaml || exit 1
expect_fail_eperm identity-set-exe-file-denied /opt/tools/reach borrow-exe /usr/local/bin/trusted-reader /srv/demo/secret.txt
expect_contains identity-denied-at-prctl "prctl PR_SET_MM_EXE_FILE" "$BF_ERR"
expect_ok identity-other-prctl-still-works /opt/tools/reach prctl-name renamed-thread
expect_eq identity-other-prctl-result renamed-thread "$BF_OUT"
sleep 0.5
ev=$(grep '"kind":"identity"' /tmp/agent.out | head -n1)
expect_contains identity-event '"op":"set_exe_file"' "$ev"
expect_contains identity-event-rule '"rule":"builtin: executable identity"' "$ev"
stop_agent
show_file /tmp/agent.out
