# Cost of open+close and of fork+exec for any process, in one VM run: no BPF program, empty
# programs on the agent's hooks, and the agent enforcing a large policy; then the cost of each
# program per call, from the kernel's own BPF statistics.
# Then the time from start to enforcing, for one rule, for BENCH_SCALE_FILES file rules alone and
# with the network rules, and the time of a signed reload of the large policy.
# Also TCP connect and UDP sendto (the large policy has network rules), and UDP sendto alternating
# between two destinations (the decision in full, every call).
# Prints "BENCH <operation> <mode> <round> <ns per op>", "MAPMEM <bpftool map show -j>", "BENCH startup agent <round> <ns>",
# "BPFSTATS <mode> <bpftool prog show -j>", "BENCH startup one|files|scale <round> <ns>" and
# "BENCH reload scale <round> <ns>"; then "BENCH treeopen tree<depth>|single<depth> <round> <ns per op>"
# and "BENCH startup tree <round> <ns>" (protected directories). Times are the VM's counted time
# (test/kernel/vm.ts ICOUNT): one ns per guest instruction.
. /scenarios/lib.sh

. /opt/bench/env.sh # BENCH_FILES, BENCH_SCALE_FILES, BENCH_ITERATIONS, BENCH_EXEC_ITERATIONS, BENCH_NET_ITERATIONS, BENCH_RUNS, BENCH_ROUNDS
mkdir -p /srv/bench /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
echo plain >/srv/bench/plain.txt
most=$BENCH_FILES
[ "$BENCH_SCALE_FILES" -gt "$most" ] && most=$BENCH_SCALE_FILES
(cd /srv/bench && seq 0 $((most - 1)) | sed 's/^/f/' | xargs touch)
# The executables the large policies' network rules name (bench/tools.ts BENCH_EXE_DIR): files only.
mkdir -p /opt/bench/exe
(cd /opt/bench/exe && seq 0 999 | sed 's/^/e/' | xargs touch)
ip link set lo up 2>/dev/null
now() { cut -d' ' -f1 /proc/uptime; }
ns_since() { echo "$1 $(now)" | awk '{ printf "%.0f", ($2 - $1) * 1e9 }'; }

measure() { # MODE ROUND
  local i=0
  while [ $i -lt "$BENCH_RUNS" ]; do
    echo "BENCH openclose $1 $2 $(/opt/bench/openclose /srv/bench/plain.txt "$BENCH_ITERATIONS")"
    echo "BENCH forkexec $1 $2 $(/opt/bench/forkexec /bin/true "$BENCH_EXEC_ITERATIONS")"
    # A loopback port the large policy names (both lookups), nothing listening.
    echo "BENCH tcpconnect $1 $2 $(/opt/bench/netops tcp 127.0.0.1 9 "$BENCH_NET_ITERATIONS")"
    echo "BENCH udpsendto $1 $2 $(/opt/bench/netops udp 127.0.0.1 9 "$BENCH_ITERATIONS")"
    # Each datagram to the other of two named ports: nothing kept from the call before.
    echo "BENCH udpalternate $1 $2 $(/opt/bench/netops udp 127.0.0.1 9,1000 "$BENCH_ITERATIONS")"
    i=$((i + 1))
  done
}

attach_empty() {
  /opt/bench/empty-loader /opt/bench/empty.bpf.o >/tmp/empty.out 2>&1 &
  EMPTY=$!
  BF_BG_PIDS="$BF_BG_PIDS $EMPTY"
  wait_for_line /tmp/empty.out attached 60 $EMPTY || { show_file /tmp/empty.out; fail bench-empty "empty programs did not attach"; exit 1; }
}

start_timed_agent() { # ROUND
  local t0 t1
  t0=$(cut -d' ' -f1 /proc/uptime)
  start_agent bench-agent-starts /opt/bench/large.yaml || exit 1
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "BENCH startup agent $1 $(echo "$t0 $t1" | awk '{ printf "%.0f", ($2 - $1) * 1e9 }')"
}

# Measured once the machine has settled: what the agent does in its first moments (its collector
# after a large compile, a walk of the directories) is start-up, timed on its own below; on one
# virtual CPU it would land in whichever operation runs first. Settled: at most 2% of one second
# busy (/proc/stat), waited for up to 30 s.
cpu_busy_total() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
settle() {
  local tries=0 a b
  while [ $tries -lt 30 ]; do
    a=$(cpu_busy_total)
    sleep 1
    b=$(cpu_busy_total)
    echo "$a $b" | awk '{ exit !(($3 - $1) * 50 <= ($4 - $2)) }' && return 0
    tries=$((tries + 1))
  done
  echo "settle: the machine was still busy after 30 s" >&2
}

run_mode() { # MODE ROUND
  case $1 in
    none) settle; measure none "$2" ;;
    empty) attach_empty; settle; measure empty "$2"; stop_bg $EMPTY ;;
    agent)
      start_timed_agent "$2"
      settle
      measure agent "$2"
      expect_fail_eperm bench-agent-enforces cat /srv/bench/f0
      stop_agent
      ;;
  esac
}

# Rounds interleave the three modes, each round in another order, so that slow drift of the
# emulated machine and the order itself hit every mode alike.
round=0
while [ $round -lt "$BENCH_ROUNDS" ]; do
  case $((round % 3)) in
    0) order="none empty agent" ;;
    1) order="empty agent none" ;;
    2) order="agent none empty" ;;
  esac
  for mode in $order; do run_mode $mode $round; done
  round=$((round + 1))
done

# The cost of each program per call, measured by the kernel (run_time_ns / run_cnt). The
# statistics are on only here: they add a clock read to every program run.
stats() { # MODE
  echo 1 >/proc/sys/kernel/bpf_stats_enabled
  /opt/bench/openclose /srv/bench/plain.txt "$BENCH_ITERATIONS" >/dev/null
  /usr/local/bin/trusted-reader /srv/bench/f1 >/dev/null
  cat /srv/bench/f1 2>/dev/null
  /opt/bench/forkexec /bin/true "$BENCH_EXEC_ITERATIONS" >/dev/null
  /opt/bench/netops tcp 127.0.0.1 9 "$BENCH_NET_ITERATIONS" >/dev/null
  /opt/bench/netops udp 127.0.0.1 9 "$BENCH_ITERATIONS" >/dev/null
  echo 0 >/proc/sys/kernel/bpf_stats_enabled
  echo "BPFSTATS $1 $(bpftool -j prog show)"
}
attach_empty
stats empty
stop_bg $EMPTY
start_agent bench-agent-starts /opt/bench/large.yaml || exit 1
stats agent
# The kernel memory of the agent's maps with the large policy in force (self-protection in monitor
# mode lets bpftool see them).
echo "MAPMEM $(bpftool -j map show)"
stop_agent
# Start-up at scale, and reload: the agent starts with one rule, then with the file rules alone,
# then with the large policy, rounds alternating; with the large policy running, reloads alternate
# between two variants.
round=0
while [ $round -lt 3 ]; do
  for size in one files scale; do
    settle
    t0=$(now)
    start_agent bench-agent-starts /opt/bench/$size.yaml || exit 1
    echo "BENCH startup $size $round $(ns_since "$t0")"
    echo "STEPS start-$size $(grep -m1 'enforcing' /tmp/agent.err)"
    stop_agent
  done
  round=$((round + 1))
done
start_agent bench-agent-starts /opt/bench/scale.yaml || exit 1
round=0
while [ $round -lt 3 ]; do
  settle
  t0=$(now)
  bf_capture bomfather reload --policy /opt/bench/scale-reload-$((round % 2)).yaml --sign /opt/keys/test.pem
  [ "$BF_STATUS" -eq 0 ] || { fail bench-reload "reload failed: $BF_ERR"; exit 1; }
  echo "BENCH reload scale $round $(ns_since "$t0")"
  echo "STEPS reload-scale $(grep 'reloaded' /tmp/agent.err | tail -1)"
  round=$((round + 1))
done
# The agent's memory once idle again (its full collection done): resident now, and at its peak
# (the start and the reloads above). The agent collects at its first idle tick, which comes 2 s
# after a request (src/agent/serve.ts REQUEST_LINGER_MS): a quiet second before then is no sign
# that it collected (measured 1 s after a reload: 153 MB resident; 2 s after: 108 MB).
sleep 3
settle
echo "AGENTMEM $(awk '/^(VmRSS|VmHWM):/ { printf "%s %s ", $1, $2 }' /proc/$AGENT/status)"
stop_agent

# Protected directories: BENCH_TREE_FILES files below /srv/tree (a wide directory and a chain 32
# deep), and single protected files at the same depths under /srv/single; rounds alternate the
# order. Then the start with that tree.
mkdir -p /srv/tree/wide /srv/single
for top in /srv/tree /srv/single; do
  p=$top
  for i in $(seq 1 31); do p=$p/d$i; done
  mkdir -p "$p"
done
at_depth() { # DIR DEPTH
  local p=$1 i=1
  while [ $i -lt "$2" ]; do p=$p/d$i; i=$((i + 1)); done
  echo "$p/f"
}
for d in 1 8 32; do
  echo tree >"$(at_depth /srv/tree $d)"
  echo single >"$(at_depth /srv/single $d)"
done
(cd /srv/tree/wide && seq 1 $((BENCH_TREE_FILES - 100)) | sed 's/^/w/' | xargs touch)
start_agent bench-agent-starts /opt/bench/tree.yaml || exit 1
wait_for_line /tmp/agent.err "walked the protected directories again" 300 "$AGENT"
expect_fail_eperm bench-tree-enforces cat "$(at_depth /srv/tree 32)"
settle
round=0
while [ $round -lt "$BENCH_ROUNDS" ]; do
  for d in 1 8 32; do
    if [ $((round % 2)) = 0 ]; then kinds="tree single"; else kinds="single tree"; fi
    for kind in $kinds; do
      i=0
      while [ $i -lt "$BENCH_RUNS" ]; do
        echo "BENCH treeopen $kind$d $round $(/opt/bench/openclose "$(at_depth /srv/$kind $d)" "$BENCH_ITERATIONS")"
        i=$((i + 1))
      done
    done
  done
  round=$((round + 1))
done
stop_agent
round=0
while [ $round -lt 2 ]; do
  settle
  t0=$(now)
  start_agent bench-agent-starts /opt/bench/tree.yaml || exit 1
  echo "BENCH startup tree $round $(ns_since "$t0")"
  echo "STEPS start-tree $(grep -m1 'enforcing' /tmp/agent.err)"
  wait_for_line /tmp/agent.err "walked the protected directories again" 300 "$AGENT"
  stop_agent
  round=$((round + 1))
done
pass bench-done "$BENCH_ROUNDS rounds of $BENCH_RUNS runs per mode: $BENCH_ITERATIONS open+close, $BENCH_EXEC_ITERATIONS fork+exec each"
