# The product's example policies that this version enforces, end to end as shipped (with the
# scenarios' key added first under agent.keys): policies/self-protection.yaml,
# policies/ptrace-defense.yaml, policies/file-boundaries.yaml, policies/ip-protection.yaml and
# policies/policy-inheritance.yaml.
. /scenarios/lib.sh

net_expect() { # NAME WANT CMD...: the last step printed WANT (EPERM: refused by the agent)
  local name=$1 want=$2
  shift 2
  bf_capture "$@"
  case "$(echo "$BF_OUT" | tail -n1)" in
    *" $want" | "$want") pass "$name" "$* -> $(echo "$BF_OUT" | tail -n1)" ;;
    *) fail "$name" "$* -> \"$(echo "$BF_OUT" | tail -n1)\" (status $BF_STATUS, $BF_ERR): expected $want" ;;
  esac
}

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

# policies/file-boundaries.yaml as shipped: api (api-server) and the deployer are copies of egress
# (its read and write modes); postgres is a copy of env(1), whose children are its backends.
mkdir -p /etc/shop/tls /var/lib/postgresql/16/main/base/1
echo "tls key" >/etc/shop/tls/server.key
echo "DB_PASSWORD=old" >/etc/shop/db-credentials.env
echo '{"provider":"x"}' >/etc/shop/payment-provider.json
echo "relation" >/var/lib/postgresql/16/main/base/1/1259
echo "16" >/var/lib/postgresql/16/main/PG_VERSION
API=/opt/shop/bin/api-server
DEPLOY=/opt/shop/bin/deploy
PG=/usr/lib/postgresql/16/bin/postgres
POLICY=/policies/file-boundaries.yaml
start_agent ex-fb-starts "$POLICY" || exit 1
net_expect ex-fb-api-reads-key "read ok" $API read /etc/shop/tls/server.key
net_expect ex-fb-root-key-refused "open EPERM" /opt/tools/egress read /etc/shop/tls/server.key
net_expect ex-fb-api-reads-credentials "read ok" $API read /etc/shop/db-credentials.env
net_expect ex-fb-api-writes-credentials-refused "open EPERM" $API write /etc/shop/db-credentials.env x
net_expect ex-fb-deployer-rotates "write ok" $DEPLOY write /etc/shop/db-credentials.env "DB_PASSWORD=new"
net_expect ex-fb-api-reads-rotated "read ok" $API read /etc/shop/db-credentials.env
expect_contains ex-fb-rotated-content "DB_PASSWORD=new" "$BF_OUT"
expect_fail_eperm ex-fb-root-credentials-refused cat /etc/shop/db-credentials.env
# The data directory: postgres and its backends (children) read, write and create; nobody else.
expect_ok ex-fb-postgres-backend-reads $PG cat /var/lib/postgresql/16/main/base/1/1259
expect_ok ex-fb-postgres-backend-writes $PG sh -c "echo wal >/var/lib/postgresql/16/main/base/1/2600 && mkdir /var/lib/postgresql/16/main/pg_wal && echo seg >/var/lib/postgresql/16/main/pg_wal/000000010000000000000001"
expect_fail_eperm ex-fb-root-data-refused cat /var/lib/postgresql/16/main/base/1/1259
expect_fail_eperm ex-fb-root-new-file-refused cat /var/lib/postgresql/16/main/base/1/2600
expect_fail_eperm ex-fb-root-new-wal-refused cat /var/lib/postgresql/16/main/pg_wal/000000010000000000000001
expect_fail_eperm ex-fb-root-listing-refused ls /var/lib/postgresql/16/main
expect_fail_eperm ex-fb-root-remove-refused rm -f /var/lib/postgresql/16/main/PG_VERSION
net_expect ex-fb-api-data-refused EPERM $API read /var/lib/postgresql/16/main/PG_VERSION
# Monitor mode: the payment provider's file is read, and the read is reported.
expect_ok ex-fb-monitored-readable cat /etc/shop/payment-provider.json
sleep 1
line=$(grep -n 'path: /var/lib/postgresql/16/main/' "$POLICY" | cut -d: -f1)
ev=$(grep '"action":"deny"' /tmp/agent.out | grep -F '"target":"/var/lib/postgresql/16/main/base/1/1259"' | head -n1)
expect_contains ex-fb-data-event-rule "\"rule\":\"$POLICY:$line\"" "$ev"
mev=$(grep '"action":"monitor"' /tmp/agent.out | grep -F '"target":"/etc/shop/payment-provider.json"' | head -n1)
expect_contains ex-fb-monitor-event '"action":"monitor"' "$mev"
stop_agent
expect_eq ex-fb-stops 0 "$BG_STATUS"
expect_ok ex-fb-data-readable-after cat /var/lib/postgresql/16/main/base/1/2600

# policies/ip-protection.yaml: the signer is a copy of egress on an fs-verity file system at
# /opt/release/bin (the example's digest is replaced by this copy's: the one value that belongs to
# a host); web (/opt/shop/bin/api-server) and the resolver are copies of egress too. A DNS server in
# the VM (egress dns-serve on 127.0.0.53, which the example's dns destination names) answers for the
# KMS and the payments API.
ip link set lo up 2>/dev/null
EGRESS=/opt/tools/egress
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

# policies/policy-inheritance.yaml as shipped. The launcher and the exporter are copies of env(1):
# their children are the workers. The artifact store is a host name (the DNS server above).
mkdir -p /data/training-set/shard-0 /data/checkpoints
echo "example 1" >/data/training-set/shard-0/part-0000
echo "epoch 0" >/data/checkpoints/epoch-0
start_agent ex-inherit-net-starts /policies/policy-inheritance.yaml || exit 1
TRAINER=/opt/ml/bin/train-launcher
EXPORTER=/opt/ml/bin/export-model
expect_ok ex-inherit-worker-reads-data $TRAINER cat /data/training-set/shard-0/part-0000
expect_ok ex-inherit-deep-worker-reads-data $TRAINER sh -c "cat /data/training-set/shard-0/part-0000"
expect_fail_eperm ex-inherit-worker-writes-data-refused $TRAINER sh -c "echo poisoned >/data/training-set/shard-0/part-0000"
expect_ok ex-inherit-worker-writes-checkpoint $TRAINER sh -c "echo epoch 1 >/data/checkpoints/epoch-1"
expect_fail_eperm ex-inherit-root-data-refused cat /data/training-set/shard-0/part-0000
expect_fail_eperm ex-inherit-root-checkpoint-refused cat /data/checkpoints/epoch-1
expect_fail_eperm ex-inherit-exporter-child-checkpoint-refused $EXPORTER cat /data/checkpoints/epoch-0
net_expect ex-inherit-worker-store ENETUNREACH $TRAINER $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-worker-deep-store ENETUNREACH $TRAINER /bin/sh -c "$EGRESS connect tcp 10.78.0.9 443"
net_expect ex-inherit-worker-elsewhere-refused EPERM $TRAINER $EGRESS connect tcp 10.9.9.9 80
net_expect ex-inherit-worker-other-port-refused EPERM $TRAINER $EGRESS connect tcp 10.78.0.9 80
net_expect ex-inherit-other-store-refused EPERM $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-exporter-child-store-refused EPERM $EXPORTER $EGRESS connect tcp 10.78.0.9 443
net_expect ex-inherit-other-elsewhere ENETUNREACH $EGRESS connect tcp 10.9.9.9 80
stop_agent
expect_eq ex-inherit-net-stops 0 "$BG_STATUS"
stop_bg "$DNS_SERVER"
