#!/bin/sh
# Soak: the agent is started and stopped again and again with a large policy, alternating with
# empty programs attached to and detached from the same hooks, while other processes open files,
# fork and exec without pause. Every cycle the agent must reach "enforcing", refuse a protected
# file, let the trusted reader in and exit cleanly on SIGTERM. The host fails the run on any soft
# lockup, RCU stall, hung task, oops or warning in the guest console (harness.ts); the guest's own
# dmesg is checked here too, so the failing check says which cycle it came after.
. /scenarios/lib.sh
. /opt/bench/env.sh # SOAK_CYCLES, SOAK_FILES, written by soak.test.ts

mkdir -p /srv/bench /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
echo plain >/srv/bench/plain.txt
(cd /srv/bench && seq 0 $((SOAK_FILES - 1)) | sed 's/^/f/' | xargs touch)

LOCKUP='soft lockup|rcu.*stall|blocked for more than|Oops|BUG: |WARNING: |general protection'

# The load: plain opens, fork+exec, and opens of protected files by root (refused while the
# agent runs) and by the trusted reader (allowed), so decisions that hit the maps run throughout.
# It runs at a lower priority: on the VM's one CPU it takes every moment the agent leaves, and
# the agent still starts in tens of seconds, not minutes.
start_bg /tmp/load-open.log sh -c 'renice -n 10 $$ >/dev/null; while :; do /opt/bench/openclose /srv/bench/plain.txt 2000 || exit 1; done'
LOAD_OPEN=$BG_PID
start_bg /tmp/load-exec.log sh -c 'renice -n 10 $$ >/dev/null; while :; do /opt/bench/forkexec /bin/true 50 || exit 1; done'
LOAD_EXEC=$BG_PID
start_bg /tmp/load-protected.log sh -c 'renice -n 10 $$ >/dev/null; while :; do cat /srv/bench/f1 2>/dev/null; /usr/local/bin/trusted-reader /srv/bench/f2 || exit 1; done'
LOAD_PROTECTED=$BG_PID

enforced=0 denied=0 allowed=0 exited=0 empty=0 cycle=1 clean=0
while [ $cycle -le "$SOAK_CYCLES" ]; do
  echo "--- cycle $cycle: agent"
  start_agent soak-agent-starts /opt/bench/large.yaml || break
  enforced=$((enforced + 1))
  bf_capture cat /srv/bench/f0
  case "$BF_STATUS:$BF_ERR" in 0:*) fail soak-agent-denies "cycle $cycle: root read a protected file" ;; *"Operation not permitted"*) denied=$((denied + 1)) ;; esac
  bf_capture /usr/local/bin/trusted-reader /srv/bench/f3
  [ "$BF_STATUS" -eq 0 ] && allowed=$((allowed + 1)) || fail soak-trusted-reader-reads "cycle $cycle: $BF_ERR"
  stop_agent
  if [ "$BG_STATUS" -eq 0 ]; then exited=$((exited + 1)); else
    show_file /tmp/agent.err
    fail soak-agent-exits "cycle $cycle: the agent exited with status $BG_STATUS after a signed shutdown (255: still running 180 s later)"
    break
  fi

  echo "--- cycle $cycle: empty programs"
  /opt/bench/empty-loader /opt/bench/empty.bpf.o >/tmp/empty.out 2>&1 &
  EMPTY=$!
  BF_BG_PIDS="$BF_BG_PIDS $EMPTY"
  if ! wait_for_line /tmp/empty.out attached 60 $EMPTY; then
    show_file /tmp/empty.out
    fail soak-empty-programs "cycle $cycle: empty programs did not attach"
    break
  fi
  stop_bg $EMPTY
  if [ "$BG_STATUS" -eq 0 ]; then empty=$((empty + 1)); else
    show_file /tmp/empty.out
    fail soak-empty-programs-exit "cycle $cycle: the empty programs' loader exited with status $BG_STATUS after SIGTERM (137: killed 5 s later)"
  fi

  if dmesg | grep -Eq "$LOCKUP"; then
    dmesg | grep -E -A 30 "$LOCKUP" | head -80
    fail soak-dmesg-clean "the kernel reported a problem during cycle $cycle"
    break
  fi
  clean=$((clean + 1))
  cycle=$((cycle + 1))
done

expect_eq soak-agent-enforces-every-cycle "$SOAK_CYCLES" "$enforced"
expect_eq soak-agent-denies-every-cycle "$SOAK_CYCLES" "$denied"
expect_eq soak-trusted-reader-every-cycle "$SOAK_CYCLES" "$allowed"
expect_eq soak-agent-exits-every-cycle "$SOAK_CYCLES" "$exited"
expect_eq soak-empty-programs-every-cycle "$SOAK_CYCLES" "$empty"
expect_eq soak-dmesg-clean "$SOAK_CYCLES" "$clean"
for p in $LOAD_OPEN $LOAD_EXEC $LOAD_PROTECTED; do
  is_running "$p" || { show_file /tmp/load-open.log; show_file /tmp/load-exec.log; show_file /tmp/load-protected.log; }
done
is_running "$LOAD_OPEN" && is_running "$LOAD_EXEC" && is_running "$LOAD_PROTECTED" &&
  pass soak-load-ran-throughout "open, fork+exec and protected-file loops ran through $SOAK_CYCLES cycles" ||
  fail soak-load-ran-throughout "a load loop stopped"
