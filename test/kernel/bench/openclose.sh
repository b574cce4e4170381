# Cost of open+close and of fork+exec for any process, in one VM run: no BPF program, empty
# programs on the agent's hooks, and the agent enforcing a large policy.
# Prints "BENCH <operation> <mode> <ns per op>".
. /scenarios/lib.sh

. /opt/bench/env.sh # BENCH_FILES, BENCH_ITERATIONS, BENCH_RUNS, BENCH_ROUNDS, written by bench.ts
ITER=$BENCH_ITERATIONS
RUNS=$BENCH_RUNS
EXEC_ITER=$((ITER / 40))
mkdir -p /srv/bench /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
echo plain >/srv/bench/plain.txt
(cd /srv/bench && seq 0 $((BENCH_FILES - 1)) | sed 's/^/f/' | xargs touch)

measure() { # MODE
  local i=0
  while [ $i -lt "$RUNS" ]; do
    echo "BENCH openclose $1 $(/opt/bench/openclose /srv/bench/plain.txt "$ITER")"
    echo "BENCH forkexec $1 $(/opt/bench/forkexec /bin/true "$EXEC_ITER")"
    i=$((i + 1))
  done
}

# Rounds interleave the three modes, so slow drift of the emulated machine hits all of them.
round=0
while [ $round -lt "$BENCH_ROUNDS" ]; do
  measure none

  /opt/bench/empty-loader /opt/bench/empty.bpf.o >/tmp/empty.out 2>&1 &
  EMPTY=$!
  BF_BG_PIDS="$BF_BG_PIDS $EMPTY"
  wait_for_line /tmp/empty.out attached 60 $EMPTY || { show_file /tmp/empty.out; fail bench-empty "empty programs did not attach"; exit 1; }
  measure empty
  stop_bg $EMPTY

  t0=$(cut -d' ' -f1 /proc/uptime)
  start_agent bench-agent-starts /opt/bench/large.yaml || exit 1
  t1=$(cut -d' ' -f1 /proc/uptime)
  echo "BENCH startup agent $(echo "$t0 $t1" | awk '{ printf "%.0f", ($2 - $1) * 1e9 }')"
  measure agent
  expect_fail_eperm bench-agent-enforces cat /srv/bench/f0
  stop_bg $AGENT
  round=$((round + 1))
done
pass bench-done "$BENCH_ROUNDS rounds of $RUNS runs per mode: $ITER open+close, $EXEC_ITER fork+exec each"
