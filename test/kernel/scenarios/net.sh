# Egress per executable (issue 12): every way out is decided (connect, UDP sendto/sendmsg/sendmmsg,
# TCP Fast Open, MPTCP, io_uring, IPv4, IPv6, IPv4-mapped IPv6), a destination's allow reserves it,
# a confinement sticks to every descendant (inherit on and off), raw and packet sockets are refused
# to confined programs and under default: deny, events name the destination and the rule's line,
# monitor mode reports without refusing. Each assertion both ways.
#
# /opt/tools/egress (test/kernel/tools/egress.c) prints one line per step, "<step> ok" or
# "<step> <ERRNO>": EPERM is the agent's refusal; ECONNREFUSED (loopback, nothing listening),
# ENETUNREACH (no route) or ok mean the attempt went through.
. /scenarios/lib.sh

EGRESS=/opt/tools/egress
SIGNER=/usr/local/bin/net-signer
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null

# net_refused NAME CMD...: refused by the agent (the last step failed with EPERM).
net_refused() {
  local name=$1
  shift
  bf_capture "$@"
  case "$(echo "$BF_OUT" | tail -n1)" in
    *" EPERM") pass "$name" "$* -> $(echo "$BF_OUT" | tail -n1)" ;;
    *) fail "$name" "$* -> \"$(echo "$BF_OUT" | tail -n1)\" (status $BF_STATUS, $BF_ERR): expected EPERM" ;;
  esac
}

# net_allowed NAME WANT CMD...: went through: the last step printed WANT ("ok", "ECONNREFUSED"...).
net_allowed() {
  local name=$1 want=$2
  shift 2
  bf_capture "$@"
  local last
  last=$(echo "$BF_OUT" | tail -n1)
  case "$last" in
    *" $want") pass "$name" "$* -> $last" ;;
    *) fail "$name" "$* -> \"$last\" (status $BF_STATUS, $BF_ERR): expected $want" ;;
  esac
}

# Before the agent: everything goes through (the baseline the refusals below are measured against).
net_allowed net-before-tcp ECONNREFUSED $EGRESS connect tcp 127.0.0.10 443
net_allowed net-before-udp6 ENETUNREACH $EGRESS sendto 2001:db8::10 53
net_allowed net-before-raw ok $EGRESS raw

# Processes started before the agent, acting after it started: judged by their executable.
rm -f /tmp/net-go
start_bg /tmp/net-early-signer.log $SIGNER after /tmp/net-go connect tcp 10.1.1.1 80
start_bg /tmp/net-early-other.log $EGRESS after /tmp/net-go connect tcp 10.1.1.1 80

start_agent net-agent-starts /policies/net.yaml || exit 1
touch /tmp/net-go
wait_for_line /tmp/net-early-signer.log "^connect" 20
wait_for_line /tmp/net-early-other.log "^connect" 20
expect_contains net-early-signer-confined "connect EPERM" "$(cat /tmp/net-early-signer.log)"
expect_contains net-early-other-open "connect ENETUNREACH" "$(cat /tmp/net-early-other.log)"

# A destination reserved for the signer (kms: 127.0.0.10, tcp 443), every way of reaching it.
for way in "connect tcp" "connect mptcp" tfo tfo-connect uring-connect; do
  tag=$(echo "$way" | tr ' ' '-')
  net_refused "net-kms-$tag-refused" $EGRESS $way 127.0.0.10 443
  net_allowed "net-kms-$tag-signer" ECONNREFUSED $SIGNER $way 127.0.0.10 443
done
net_refused net-kms-mapped-refused $EGRESS connect tcp ::ffff:127.0.0.10 443
net_allowed net-kms-mapped-signer ECONNREFUSED $SIGNER connect tcp ::ffff:127.0.0.10 443
# Its other ports and UDP are not kms: they fall to the enclosing destination (local), open to all.
net_allowed net-kms-other-port ECONNREFUSED $EGRESS connect tcp 127.0.0.10 80
net_allowed net-kms-udp-not-kms ok $EGRESS sendto 127.0.0.10 443

# kms6 (2001:db8::10, every port, both protocols): datagrams with an address, every way.
for way in sendto sendmsg sendmmsg uring-sendmsg; do
  net_refused "net-kms6-$way-refused" $EGRESS $way 2001:db8::10 53
  net_allowed "net-kms6-$way-signer" ENETUNREACH $SIGNER $way 2001:db8::10 53
done
net_refused net-kms6-connect-refused $EGRESS connect tcp 2001:db8::10 443
net_allowed net-kms6-connect-signer ENETUNREACH $SIGNER connect tcp 2001:db8::10 443
net_refused net-kms6-udp-connect-refused $EGRESS connect udp 2001:db8::10 53
net_allowed net-other-v6-open ENETUNREACH $EGRESS sendto 2001:db8::11 53

# The signer is confined to kms, kms6 and dns: nothing else, named or not.
net_allowed net-signer-dns ok $SIGNER sendto 127.0.0.53 53
net_refused net-signer-dns-tcp $SIGNER connect tcp 127.0.0.53 53
net_refused net-signer-local $SIGNER connect tcp 127.0.0.20 80
net_refused net-signer-unnamed $SIGNER connect tcp 10.1.1.1 80
net_refused net-signer-unnamed-udp $SIGNER sendto 10.1.1.1 53
# An AF_UNSPEC address on an IPv4 UDP socket is sent as AF_INET: decided as one.
net_refused net-signer-unspec-udp $SIGNER sendto-unspec 10.1.1.1 53
net_allowed net-signer-unspec-dns ok $SIGNER sendto-unspec 127.0.0.53 53
net_refused net-signer-raw $SIGNER raw
net_refused net-signer-packet $SIGNER packet
# The same for anyone else: open (default allow).
net_allowed net-other-local ECONNREFUSED $EGRESS connect tcp 127.0.0.20 80
net_allowed net-other-unnamed ENETUNREACH $EGRESS connect tcp 10.1.1.1 80
net_allowed net-other-raw ok $EGRESS raw
net_allowed net-other-packet ok $EGRESS packet

# A task keeps the last destination it reached for its next call (net.bpf.h): never across a change
# of program or of confinement in the same task. The task that was just let through execs the
# confined signer, or a confined launcher that runs the very same program again: refused.
net_refused net-memo-exec-signer $EGRESS then-exec sendto 127.0.0.20 53 -- $SIGNER sendto 127.0.0.20 53
expect_contains net-memo-exec-signer-first "sendto ok" "$(echo "$BF_OUT" | sed -n 2p)"
net_refused net-memo-exec-launcher $EGRESS then-exec sendto 10.1.1.1 53 -- /usr/local/bin/net-launcher $EGRESS sendto 10.1.1.1 53
expect_not_contains net-memo-exec-launcher-first "EPERM" "$(echo "$BF_OUT" | sed -n 2p)"
net_allowed net-memo-exec-plain ok $EGRESS then-exec sendto 127.0.0.20 53 -- $EGRESS sendto 127.0.0.20 53

# Confinement sticks to descendants, whatever they run, inherit on or off, at any depth.
for l in net-launcher net-launcher-ni; do
  net_allowed "$l-child-local" ECONNREFUSED /usr/local/bin/$l $EGRESS connect tcp 127.0.0.20 80
  net_refused "$l-child-unnamed" /usr/local/bin/$l $EGRESS connect tcp 10.1.1.1 80
  net_refused "$l-child-raw" /usr/local/bin/$l $EGRESS raw
  net_refused "$l-grandchild-unnamed" /usr/local/bin/$l /bin/sh -c "$EGRESS sendto 10.1.1.1 53"
  net_refused "$l-grandchild-v6" /usr/local/bin/$l /bin/sh -c "exec /bin/sh -c '$EGRESS connect tcp 2001:db8::99 80'"
  net_allowed "$l-grandchild-v6-local" ECONNREFUSED /usr/local/bin/$l /bin/sh -c "$EGRESS connect tcp ::1 80"
done
# A confined program that runs the signer: the signer's own grant does not lift the launcher's confinement.
net_refused net-launcher-runs-signer /usr/local/bin/net-launcher $SIGNER connect tcp 127.0.0.10 443

# A monitored destination (lab, reserved for the signer): let through, reported.
net_allowed net-lab-monitored ECONNREFUSED $EGRESS connect tcp 127.0.1.5 80

# Events: destination, protocol, reason and the rule's line.
sleep 1
kms_line=$(grep -n '^    kms:' /policies/net.yaml | cut -d: -f1)
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"127.0.0.10:443"' | grep '"action":"deny"' | head -n1)
expect_contains net-event-rule "\"rule\":\"/policies/net.yaml:$kms_line\"" "$ev"
expect_contains net-event-op "\"op\":\"connect\"" "$ev"
expect_contains net-event-protocol "\"protocol\":\"tcp\"" "$ev"
expect_contains net-event-reason "reserved for the executables its allow names" "$ev"
# The process is gone when the event is read: the kernel's file name of its executable names it.
expect_contains net-event-exe "egress\",\"identity\"" "$ev"
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"\[2001:db8::10\]:53"' | grep '"op":"send"' | head -n1)
expect_contains net-event-v6-send "\"protocol\":\"udp\"" "$ev"
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"10.1.1.1:80"' | grep '"identity":"/usr/local/bin/net-signer"' | head -n1)
expect_contains net-event-confined "confined to other destinations" "$ev"
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"op":"socket"' | head -n1)
expect_contains net-event-socket "SOCK_RAW" "$ev"
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"127.0.1.5:80"' | head -n1)
expect_contains net-event-monitor "\"action\":\"monitor\"" "$ev"
lab_line=$(grep -n '^    lab:' /policies/net.yaml | cut -d: -f1)
expect_contains net-event-monitor-rule "\"rule\":\"/policies/net.yaml:$lab_line\"" "$ev"
stop_agent
expect_eq net-agent-stops 0 "$BG_STATUS"
net_allowed net-after-open ECONNREFUSED $EGRESS connect tcp 127.0.0.10 443

# Reloads. One that adds a file rule only leaves the network maps as they were (the same entries:
# src/kernel/sealed.ts) and every network decision holds across it; one that moves a destination
# rebuilds them, and the new decision holds at once.
mkdir -p /srv/net-reload
echo "net reload secret" >/srv/net-reload/secret.txt
cp /policies/net.yaml /tmp/net-reload.yaml
{ cat /policies/net.yaml; printf 'files:\n  - path: /srv/net-reload/secret.txt\n    allow: [{ executable: signer, access: read }]\n'; } >/tmp/net-files.yaml
sed 's/addresses: \[127.0.0.10\]/addresses: [127.0.0.11]/' /tmp/net-files.yaml >/tmp/net-moved.yaml
start_agent net-reload-starts /tmp/net-reload.yaml || exit 1
expect_ok net-reload-file-open-before cat /srv/net-reload/secret.txt
bf_capture bomfather reload --policy /tmp/net-files.yaml --sign /opt/keys/test.pem
expect_eq net-reload-files-applied 0 "$BF_STATUS"
expect_contains net-reload-files-kept-network "(exes, dests, ports, confined unchanged)" "$(grep 'reloaded' /tmp/agent.err | tail -n1)"
expect_fail_eperm net-reload-file-rule-holds cat /srv/net-reload/secret.txt
net_refused net-reload-kms-still-reserved $EGRESS connect tcp 127.0.0.10 443
net_allowed net-reload-kms-signer ECONNREFUSED $SIGNER connect tcp 127.0.0.10 443
net_refused net-reload-signer-still-confined $SIGNER connect tcp 10.1.1.1 80
net_refused net-reload-launcher-still-confined /usr/local/bin/net-launcher $EGRESS connect tcp 10.1.1.1 80
net_allowed net-reload-launcher-local ECONNREFUSED /usr/local/bin/net-launcher $EGRESS connect tcp 127.0.0.20 80
bf_capture bomfather reload --policy /tmp/net-moved.yaml --sign /opt/keys/test.pem
expect_eq net-reload-moved-applied 0 "$BF_STATUS"
expect_not_contains net-reload-moved-rebuilt "dests" "$(grep 'reloaded' /tmp/agent.err | tail -n1 | sed -n 's/.*(\(.*\) unchanged).*/\1/p')"
net_allowed net-reload-old-kms-open ECONNREFUSED $EGRESS connect tcp 127.0.0.10 443
net_refused net-reload-new-kms-reserved $EGRESS connect tcp 127.0.0.11 443
net_allowed net-reload-new-kms-signer ECONNREFUSED $SIGNER connect tcp 127.0.0.11 443
net_refused net-reload-signer-confined-after $SIGNER connect tcp 10.1.1.1 80
stop_agent
expect_eq net-reload-agent-stops 0 "$BG_STATUS"

# default: deny: only what is named; sockets the rules cannot see, refused to everyone.
start_agent net-deny-starts /policies/net-deny.yaml || exit 1
net_allowed net-deny-named ECONNREFUSED $EGRESS connect tcp 127.0.0.1 80
net_allowed net-deny-named-udp ok $EGRESS sendto 127.0.0.2 53
net_refused net-deny-unnamed $EGRESS connect tcp 127.0.0.5 80
net_refused net-deny-unnamed-udp $EGRESS sendto 127.0.0.5 53
net_refused net-deny-unspec-udp $EGRESS sendto-unspec 127.0.0.5 53
net_allowed net-deny-unspec-named ok $EGRESS sendto-unspec 127.0.0.2 53
net_refused net-deny-v6 $EGRESS connect tcp ::1 80
net_refused net-deny-mapped $EGRESS connect tcp ::ffff:127.0.0.5 80
net_allowed net-deny-mapped-named ECONNREFUSED $EGRESS connect tcp ::ffff:127.0.0.1 80
net_refused net-deny-raw $EGRESS raw
net_refused net-deny-raw6 $EGRESS raw6
net_refused net-deny-packet $EGRESS packet
# The agent's own control socket still answers (a Unix socket: not a way out).
expect_ok net-deny-control bomfather shutdown --challenge
sleep 1
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"127.0.0.5:80"' | head -n1)
expect_contains net-deny-event "no destination names it" "$ev"
stop_agent
expect_eq net-deny-agent-stops 0 "$BG_STATUS"

# The same in monitor mode: reported, let through.
start_agent net-monitor-starts /policies/net-monitor.yaml || exit 1
net_allowed net-monitor-unnamed ECONNREFUSED $EGRESS connect tcp 127.0.0.5 80
net_allowed net-monitor-raw ok $EGRESS raw
sleep 1
ev=$(grep '"kind":"network"' /tmp/agent.out | grep '"target":"127.0.0.5:80"' | head -n1)
expect_contains net-monitor-event "\"action\":\"monitor\"" "$ev"
stop_agent
expect_eq net-monitor-agent-stops 0 "$BG_STATUS"

# Host names: every A and AAAA record, followed as the answers change; an address that left the
# answers stays until it expires (30 s floor); a name unresolvable at start is asked again; a name
# that resolves to a link-local (metadata) address is not followed there.
cat >/tmp/zone <<ZONE
kms.test A 10.99.0.70 2
kms.test AAAA 2001:db8::70 2
metadata.test A 169.254.169.254 2
ZONE
echo "nameserver 127.0.0.53" >/etc/resolv.conf
start_bg /tmp/dns.log /usr/local/bin/net-dns-server dns-serve 127.0.0.53 53 /tmp/zone
wait_for_line /tmp/dns.log listening 10 || show_file /tmp/dns.log
start_agent net-dns-starts /policies/net-dns.yaml || exit 1
expect_contains net-dns-unresolvable-warned '"later.test" cannot be resolved' "$(cat /tmp/agent.err)"
expect_contains net-dns-metadata-not-followed '"metadata.test" (kms) resolves to 169.254.169.254/32, link-local (cloud metadata): not followed' "$(cat /tmp/agent.err)"
net_allowed net-dns-signer-v4 ENETUNREACH $SIGNER connect tcp 10.99.0.70 443
net_allowed net-dns-signer-v6 ENETUNREACH $SIGNER sendto 2001:db8::70 443
net_refused net-dns-other-v4 $EGRESS connect tcp 10.99.0.70 443
net_refused net-dns-signer-metadata $SIGNER connect tcp 169.254.169.254 80
net_refused net-dns-signer-not-yet $SIGNER connect tcp 10.99.0.71 443
net_refused net-dns-server-refused $EGRESS sendto 127.0.0.53 53
# A task that reached 10.98.0.5 (lab: open to all) before memo.test, reserved for the signer,
# resolved to it, asks again once it does: refused (a new generation: what the task kept from the
# last call no longer counts).
rm -f /tmp/net-memo-go
start_bg /tmp/net-memo.log $EGRESS again /tmp/net-memo-go connect tcp 10.98.0.5 443
wait_for_line /tmp/net-memo.log "^connect" 20
expect_contains net-dns-memo-before "connect ENETUNREACH" "$(cat /tmp/net-memo.log)"
# The answers change: the new address is followed, the old one kept while it has not expired.
cat >/tmp/zone <<ZONE
kms.test A 10.99.0.71 2
later.test A 10.99.0.80 2
memo.test A 10.98.0.5 2
ZONE
# wait_change PATTERN SECONDS: until a "host names' addresses changed" line matches PATTERN.
wait_change() {
  local waited=0
  while ! grep "host names' addresses changed" /tmp/agent.err | grep -q "$1" && [ $waited -lt "$2" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  grep "host names' addresses changed" /tmp/agent.err | grep "$1" | head -n1
}
expect_contains net-dns-change-applied "policy generation" "$(wait_change 'kms.test: .*10.99.0.71' 60)"
expect_contains net-dns-later-applied "policy generation" "$(wait_change 'later.test: 10.99.0.80' 60)"
net_allowed net-dns-new-followed ENETUNREACH $SIGNER connect tcp 10.99.0.71 443
net_allowed net-dns-later-followed ENETUNREACH $SIGNER connect tcp 10.99.0.80 443
net_allowed net-dns-old-kept ENETUNREACH $SIGNER connect tcp 10.99.0.70 443
net_refused net-dns-new-reserved $EGRESS connect tcp 10.99.0.71 443
expect_contains net-dns-memo-applied "policy generation" "$(wait_change 'memo.test: 10.98.0.5' 60)"
touch /tmp/net-memo-go
for _ in $(seq 100); do [ "$(grep -c '^connect' /tmp/net-memo.log)" -ge 2 ] && break; sleep 0.2; done
expect_eq net-dns-memo-after "connect ENETUNREACH|connect EPERM" "$(grep '^connect' /tmp/net-memo.log | tr '\n' '|' | sed 's/|$//')"
# 30 s after it was last seen, the old address goes (a later generation).
expect_contains net-dns-expiry-applied "policy generation" "$(wait_change 'kms.test: 10.99.0.71;' 90)"
net_refused net-dns-old-gone $SIGNER connect tcp 10.99.0.70 443
net_allowed net-dns-new-stays ENETUNREACH $SIGNER connect tcp 10.99.0.71 443
stop_agent
expect_eq net-dns-agent-stops 0 "$BG_STATUS"
show_file /tmp/agent.err
show_file /tmp/agent.out
