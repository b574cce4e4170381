# The product's example policies that this version enforces, end to end as shipped (with the
# scenarios' key added first under agent.keys): policies/self-protection.yaml,
# policies/ptrace-defense.yaml and policies/ip-protection.yaml.
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

# policies/ip-protection.yaml: the signer is a copy of egress on an fs-verity file system at
# /opt/release/bin (the example's digest is replaced by this copy's: the one value that belongs to
# a host); web (/opt/shop/bin/api-server) and the resolver are copies of egress too. A DNS server in
# the VM (egress dns-serve on 127.0.0.53, which the example's dns destination names) answers for the
# KMS and the payments API.
ip link set lo up 2>/dev/null
EGRESS=/opt/tools/egress
net_expect() { # NAME WANT CMD...: the last step printed WANT (EPERM: refused by the agent)
  local name=$1 want=$2
  shift 2
  bf_capture "$@"
  case "$(echo "$BF_OUT" | tail -n1)" in
    *" $want") pass "$name" "$* -> $(echo "$BF_OUT" | tail -n1)" ;;
    *) fail "$name" "$* -> \"$(echo "$BF_OUT" | tail -n1)\" (status $BF_STATUS, $BF_ERR): expected $want" ;;
  esac
}
if ! make_verity_fs /opt/release/bin 2>"$BF_SCRATCH/make.err"; then
  fail ex-ip-protection-starts "$(cat "$BF_SCRATCH/make.err")"
  exit 0
fi
cp "$EGRESS" /opt/release/bin/signer && fsverity enable /opt/release/bin/signer
digest=$(bomfather digest /opt/release/bin/signer | cut -d' ' -f1)
sed "s/sha256:[0-9a-f]*/$digest/" /policies/ip-protection.yaml >/etc/bomfather/ip-protection.yaml
cat >/tmp/ex-zone <<ZONE
kms.internal.example.com A 10.77.0.5 60
api.payments.example.com A 10.77.0.6 60
api.payments.example.com AAAA 2001:db8:77::6 60
artifacts.ml.example.com A 10.78.0.9 60
ZONE
echo "nameserver 127.0.0.53" >/etc/resolv.conf
start_bg /tmp/ex-dns.log $EGRESS dns-serve 127.0.0.53 53 /tmp/ex-zone
DNS_SERVER=$BG_PID
wait_for_line /tmp/ex-dns.log listening 10 || show_file /tmp/ex-dns.log
SIGNER=/opt/release/bin/signer
WEB=/opt/shop/bin/api-server
start_agent ex-ip-protection-starts /etc/bomfather/ip-protection.yaml || exit 1
# Only the signer reaches the KMS (a host name); the signer reaches nothing else but DNS.
net_expect ex-ip-signer-kms ENETUNREACH $SIGNER connect tcp 10.77.0.5 443
net_expect ex-ip-other-kms-refused EPERM $EGRESS connect tcp 10.77.0.5 443
net_expect ex-ip-web-kms-refused EPERM $WEB connect tcp 10.77.0.5 443
net_expect ex-ip-signer-dns ENETUNREACH $SIGNER sendto 10.0.0.2 53
net_expect ex-ip-signer-payments-refused EPERM $SIGNER connect tcp 10.77.0.6 443
net_expect ex-ip-signer-raw-refused EPERM $SIGNER raw
# web: its database (reserved for it), the payments API (IPv4 and IPv6), DNS and loopback; no more.
net_expect ex-ip-web-database ENETUNREACH $WEB connect tcp 10.20.0.5 5432
net_expect ex-ip-web-database6 ENETUNREACH $WEB connect tcp fd00:20::5 5432
net_expect ex-ip-other-database-refused EPERM $EGRESS connect tcp 10.20.0.5 5432
net_expect ex-ip-web-payments ENETUNREACH $WEB connect tcp 10.77.0.6 443
net_expect ex-ip-web-payments6 ENETUNREACH $WEB connect tcp 2001:db8:77::6 443
net_expect ex-ip-web-loopback ECONNREFUSED $WEB connect tcp 127.0.0.1 8080
net_expect ex-ip-web-elsewhere-refused EPERM $WEB connect tcp 10.9.9.9 80
net_expect ex-ip-web-child-refused EPERM /bin/sh -c "exec $WEB connect tcp 10.9.9.9 80"
# Everyone else: named destinations without an allow, nothing unnamed (default: deny), no raw socket.
net_expect ex-ip-other-payments ENETUNREACH $EGRESS connect tcp 10.77.0.6 443
net_expect ex-ip-other-elsewhere-refused EPERM $EGRESS connect tcp 10.9.9.9 80
net_expect ex-ip-other-raw-refused EPERM $EGRESS raw
sleep 1
line=$(grep -n '^    kms:' /etc/bomfather/ip-protection.yaml | cut -d: -f1)
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"10.77.0.5:443"' | head -n1)
expect_contains ex-ip-event-rule "\"rule\":\"/etc/bomfather/ip-protection.yaml:$line\"" "$ev"
stop_agent
expect_eq ex-ip-protection-stops 0 "$BG_STATUS"
remove_verity_fs /opt/release/bin

# policies/policy-inheritance.yaml, its network part: the files section (directories, a later
# issue) is left out; the rest runs as shipped. The launcher and the exporter are copies of env(1):
# their children are the workers. The artifact store is a host name (the DNS server above).
sed '/^files:/,/^network:/{/^network:/!d}' /policies/policy-inheritance.yaml >/etc/bomfather/policy-inheritance.yaml
start_agent ex-inherit-net-starts /etc/bomfather/policy-inheritance.yaml || exit 1
TRAINER=/opt/ml/bin/train-launcher
net_expect ex-inherit-worker-store ENETUNREACH $TRAINER $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-worker-deep-store ENETUNREACH $TRAINER /bin/sh -c "$EGRESS connect tcp 10.78.0.9 443"
net_expect ex-inherit-worker-elsewhere-refused EPERM $TRAINER $EGRESS connect tcp 10.9.9.9 80
net_expect ex-inherit-worker-other-port-refused EPERM $TRAINER $EGRESS connect tcp 10.78.0.9 80
net_expect ex-inherit-other-store-refused EPERM $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-exporter-child-store-refused EPERM /opt/ml/bin/export-model $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-other-elsewhere ENETUNREACH $EGRESS connect tcp 10.9.9.9 80
stop_agent
expect_eq ex-inherit-net-stops 0 "$BG_STATUS"
stop_bg "$DNS_SERVER"
