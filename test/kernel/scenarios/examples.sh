# The product's example policies that this version enforces, end to end as shipped (with the
# scenarios' key added first under agent.keys): policies/self-protection.yaml and
# policies/ptrace-defense.yaml.
. /scenarios/lib.sh

mkdir -p /etc/backup /etc/bomfather /var/log/bomfather
rm -f /var/log/bomfather/events.jsonl* # the control scenario wrote there before
echo "correct horse battery staple" >/etc/backup/restic-password
echo "EXTRA=1" >/etc/bomfather/agent.env
chmod 0644 /etc/backup/restic-password /etc/bomfather/agent.env
POLICY=/policies/self-protection.yaml
line=$(grep -n 'path: /etc/backup/restic-password' "$POLICY" | cut -d: -f1)

start_agent ex-self-protection-starts "$POLICY" || exit 1
expect_ok ex-backup-reads-password /usr/local/bin/restic /etc/backup/restic-password
expect_fail_eperm ex-root-denied-password cat /etc/backup/restic-password
expect_fail_eperm ex-guarded-file-write-refused sh -c 'echo x >>/etc/bomfather/agent.env'
expect_fail_eperm ex-guarded-file-remove-refused rm /etc/bomfather/agent.env
expect_ok ex-guarded-file-readable cat /etc/bomfather/agent.env
expect_fail_eperm ex-kill-refused kill -TERM "$AGENT"
sleep 1.5
events=$(cat /var/log/bomfather/events.jsonl 2>/dev/null)
expect_contains ex-events-in-file '"target":"/etc/backup/restic-password"' "$events"
expect_contains ex-event-names-line "\"rule\":\"$POLICY:$line\"" "$events"
expect_contains ex-agent-event-in-file '"kind":"agent"' "$events"
expect_not_contains ex-no-allow-events '"action":"allow"' "$events"
stop_agent
expect_eq ex-self-protection-stops 0 "$BG_STATUS"
expect_ok ex-password-readable-after cat /etc/backup/restic-password

# policies/ptrace-defense.yaml: vault-agent and api-server (copies of cat), gdb (the strike tool).
POLICY=/policies/ptrace-defense.yaml
start_agent ex-ptrace-defense-starts "$POLICY" || exit 1
expect_ok ex-vault-agent-runs /usr/local/bin/vault-agent /dev/null
expect_status ex-vault-agent-preload-killed 137 env LD_PRELOAD=/opt/tools/evil.so /usr/local/bin/vault-agent /dev/null
expect_status ex-api-tunables-killed 137 env GLIBC_TUNABLES=glibc.malloc.check=3 /opt/shop/bin/api-server /dev/null
mkfifo /tmp/ex-hold
/usr/local/bin/vault-agent /tmp/ex-hold >/dev/null &
VAULT=$!
BF_BG_PIDS="$BF_BG_PIDS $VAULT"
exec 7>/tmp/ex-hold
sleep 0.3
expect_fail_eperm ex-vault-agent-ptrace-refused /opt/tools/strike ptrace "$VAULT"
expect_ok ex-gdb-may-trace /usr/bin/gdb ptrace "$VAULT"
exec 7>&-
kill "$VAULT" 2>/dev/null
expect_fail_eperm ex-fileless-refused /opt/tools/reach memfd-exec /bin/busybox true
stop_agent
expect_eq ex-ptrace-defense-stops 0 "$BG_STATUS"
