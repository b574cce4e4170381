# Threat "switching the agent off": nobody, root included, stops, pauses, traces or rewires the
# agent; only a shutdown signed by a key of its policy stops it. Each attempt is refused with an
# event, the protected file stays refused to root all along, and the legitimate counterpart of
# each attempt (on another process, a map, a cgroup that is not the agent's) still works.
. /scenarios/lib.sh

mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt
chmod 0644 /srv/demo/secret.txt
echo 'const fs = require("node:fs"); let r = "removed"; try { fs.unlinkSync("/sys/fs/bpf/bomfather/bf_state_v2"); } catch (e) { r = e.code; } fs.writeFileSync("/tmp/evil.out", r + "\n");' >/tmp/evil.js

# A session of its own, so that its process group is only itself.
START_AGENT_SETSID=1 start_agent self-agent-starts /policies/demo.yaml || exit 1
other() { sleep 300 & OTHER=$!; BF_BG_PIDS="$BF_BG_PIDS $OTHER"; }
still_enforcing() { expect_fail_eperm "self-still-enforcing-$1" cat /srv/demo/secret.txt; }

# Signals, by every route the kill hook sees.
for sig in KILL TERM STOP INT HUP QUIT USR1; do
  expect_fail_eperm "self-kill-$sig-refused" kill -"$sig" "$AGENT"
done
expect_ok self-kill-0-allowed kill -0 "$AGENT"
other
expect_ok self-kill-other-process-works kill -TERM "$OTHER"
bf_capture /opt/tools/strike tgkill "$AGENT" 9
expect_contains self-tgkill-every-thread-refused "0 sent" "$BF_OUT"
expect_fail_eperm self-pidfd-send-signal-refused /opt/tools/strike pidfd-kill "$AGENT" 9
expect_fail_eperm self-process-group-refused kill -TERM "-$AGENT"
bf_capture /opt/tools/strike sigio "$AGENT" 9
sleep 0.5
is_running "$AGENT" && pass self-sigio-refused "F_SETOWN/F_SETSIG SIGKILL did not reach the agent" || fail self-sigio-refused "the agent died of SIGIO"
expect_fail_eperm self-prlimit-refused /opt/tools/strike prlimit "$AGENT"
other
expect_ok self-prlimit-other-process-works /opt/tools/strike prlimit "$OTHER"
still_enforcing signals

# Tracing and reading its memory.
expect_fail_eperm self-ptrace-attach-refused /opt/tools/strike ptrace "$AGENT"
expect_fail_eperm self-ptrace-seize-refused /opt/tools/strike seize "$AGENT"
expect_fail_eperm self-process-vm-readv-refused /opt/tools/strike vmread "$AGENT"
expect_fail_eperm self-pidfd-getfd-refused /opt/tools/reach getfd "$AGENT" 0
bf_capture cat "/proc/$AGENT/mem"
[ "$BF_STATUS" -ne 0 ] && pass self-proc-mem-refused "$BF_ERR" || fail self-proc-mem-refused "/proc/$AGENT/mem opened"
CHILD=$(/opt/tools/strike child)
BF_BG_PIDS="$BF_BG_PIDS $CHILD"
expect_ok self-ptrace-other-process-works /opt/tools/strike ptrace "$CHILD"
expect_ok self-process-vm-readv-other-process-works /opt/tools/strike vmread "$CHILD"
still_enforcing tracing

# Its BPF objects: by pin and by id (every id the kernel has is tried: the agent's are refused).
expect_fail_eperm self-bpf-map-by-pin-refused bpftool map show pinned /sys/fs/bpf/bomfather/bf_state_v2
bpftool map create /sys/fs/bpf/testmap type hash key 4 value 4 entries 8 name testmap
expect_ok self-bpf-other-map-works bpftool map show pinned /sys/fs/bpf/testmap
bf_capture /opt/tools/strike bpf-ids
set -- $BF_OUT # maps R/O progs R/O links R/O
echo "refused/opened by id: $*"
[ "${2%/*}" -ge 10 ] && pass self-bpf-maps-by-id-refused "$2" || fail self-bpf-maps-by-id-refused "$BF_OUT"
[ "${2#*/}" -ge 1 ] && pass self-bpf-other-maps-by-id-open "$2" || fail self-bpf-other-maps-by-id-open "$BF_OUT"
[ "${4%/*}" -ge 25 ] && pass self-bpf-programs-by-id-refused "$4" || fail self-bpf-programs-by-id-refused "$BF_OUT"
[ "${6%/*}" -ge 25 ] && pass self-bpf-links-by-id-refused "$6" || fail self-bpf-links-by-id-refused "$BF_OUT"
# One program more than the agent attached (one pinned link each): the probe it keeps loaded to
# name files at a reload is the agent's too, so nobody writes what it reports.
attached=$(ls /sys/fs/bpf/bomfather | grep -c '^link-')
[ "${4%/*}" -gt "$attached" ] && pass self-bpf-probe-by-id-refused "${4%/*} programs refused, $attached attached" || fail self-bpf-probe-by-id-refused "${4%/*} programs refused, $attached attached: $BF_OUT"
link=$(ls /sys/fs/bpf/bomfather | grep -- '-file_open$' | head -n1)
expect_fail_eperm self-unpin-map-refused rm /sys/fs/bpf/bomfather/bf_state_v2
expect_fail_eperm self-unpin-link-refused rm "/sys/fs/bpf/bomfather/$link"
expect_fail_eperm self-rename-pin-refused mv /sys/fs/bpf/bomfather/bf_state_v2 /sys/fs/bpf/stolen
expect_fail_eperm self-pin-into-dir-refused bpftool map pin pinned /sys/fs/bpf/testmap /sys/fs/bpf/bomfather/decoy
expect_fail_eperm self-umount-bpffs-refused umount /sys/fs/bpf
expect_fail_eperm self-lazy-umount-bpffs-refused umount -l /sys/fs/bpf
bf_capture mount -t tmpfs none /sys/fs/bpf/bomfather # busybox says EPERM as "permission denied (are you root?)"
[ "$BF_STATUS" -ne 0 ] && [ -e /sys/fs/bpf/bomfather/bf_state_v2 ] && pass self-mount-over-pins-refused "$BF_ERR" || fail self-mount-over-pins-refused "status $BF_STATUS: $BF_ERR"
expect_ok self-other-pin-removable rm /sys/fs/bpf/testmap
still_enforcing bpf

# Its files: binary, policy, state and socket directory. Reading stays open.
# Writing it is refused by the kernel already while it runs (ETXTBSY); changing its attributes is ours.
expect_fail_eperm self-chmod-binary-refused chmod 0777 /usr/local/sbin/bomfather
expect_fail_eperm self-touch-binary-refused touch /usr/local/sbin/bomfather
expect_fail_eperm self-remove-binary-refused rm /usr/local/sbin/bomfather
cp /bin/busybox /usr/local/sbin/replacement
expect_fail_eperm self-rename-over-binary-refused mv /usr/local/sbin/replacement /usr/local/sbin/bomfather
expect_fail_eperm self-write-policy-refused sh -c 'echo "# changed" >>/policies/demo.yaml'
expect_fail_eperm self-remove-policy-refused rm /policies/demo.yaml
expect_fail_eperm self-remove-socket-refused rm /run/bomfather/control.sock
expect_fail_eperm self-remove-state-refused rm /run/bomfather/state.json
expect_fail_eperm self-create-in-state-dir-refused touch /run/bomfather/decoy
bf_capture mount -t tmpfs none /run/bomfather
[ "$BF_STATUS" -ne 0 ] && [ -S /run/bomfather/control.sock ] && pass self-mount-over-state-refused "$BF_ERR" || fail self-mount-over-state-refused "status $BF_STATUS: $BF_ERR"
expect_ok self-read-policy-works cat /policies/demo.yaml
expect_ok self-read-binary-works head -c 4 /usr/local/sbin/bomfather
expect_ok self-other-file-writable sh -c 'echo x >/usr/local/sbin/replacement'
still_enforcing files

# Its cgroup: moving it is possible, but a cgroup holding it cannot be frozen, killed or starved,
# even through a descriptor opened before it moved there.
mkdir -p /sys/fs/cgroup/trap /sys/fs/cgroup/free
echo "+memory +pids" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
exec 5>/sys/fs/cgroup/trap/cgroup.freeze
echo "$AGENT" >/sys/fs/cgroup/trap/cgroup.procs
expect_contains self-agent-moved "/trap" "$(cat /proc/$AGENT/cgroup)"
expect_fail_eperm self-cgroup-freeze-refused sh -c 'echo 1 >/sys/fs/cgroup/trap/cgroup.freeze'
expect_fail_eperm self-cgroup-freeze-early-fd-refused sh -c 'echo 1 >&5'
expect_fail_eperm self-cgroup-kill-refused sh -c 'echo 1 >/sys/fs/cgroup/trap/cgroup.kill'
[ -f /sys/fs/cgroup/trap/memory.max ] && expect_fail_eperm self-cgroup-memory-max-refused sh -c 'echo 1M >/sys/fs/cgroup/trap/memory.max'
[ -f /sys/fs/cgroup/trap/pids.max ] && expect_fail_eperm self-cgroup-pids-max-refused sh -c 'echo 1 >/sys/fs/cgroup/trap/pids.max'
expect_ok self-cgroup-freeze-other-works sh -c 'echo 1 >/sys/fs/cgroup/free/cgroup.freeze && echo 0 >/sys/fs/cgroup/free/cgroup.freeze'
exec 5>&-
is_running "$AGENT" && pass self-alive-in-trap "running" || fail self-alive-in-trap "the agent is gone"
echo "$AGENT" >/sys/fs/cgroup/cgroup.procs
still_enforcing cgroups

# The OOM killer passes it over, and nobody changes that; sysrq cannot kill everything.
expect_eq self-oom-score-adj -1000 "$(cat "/proc/$AGENT/oom_score_adj")"
expect_fail_eperm self-oom-score-adj-write-refused sh -c "echo 0 >/proc/$AGENT/oom_score_adj"
other
expect_ok self-oom-score-adj-other-works sh -c "echo 100 >/proc/$OTHER/oom_score_adj"
expect_fail_eperm self-sysrq-refused sh -c 'echo h >/proc/sysrq-trigger'

# Its binary started unsafely is not the agent: with code preloaded through BUN_OPTIONS, or traced.
BUN_OPTIONS="--preload /tmp/evil.js" bomfather version >/tmp/evil.version 2>&1
expect_eq self-preloaded-binary-untrusted EPERM "$(cat /tmp/evil.out 2>/dev/null)"
bf_capture /opt/tools/strike traceme-exec /usr/local/sbin/bomfather version
expect_contains self-traced-binary-runs "exit 0" "$BF_OUT"
still_enforcing unsafe-execs

# Events: one per attempt, naming what was tried and by whom.
sleep 0.5
events=$(grep '"kind":"agent"' /tmp/agent.out)
echo "$events" | head -n 5
expect_contains self-event-signal '"op":"signal"' "$events"
expect_contains self-event-signal-detail '"detail":"SIGKILL"' "$events"
expect_contains self-event-ptrace '"op":"ptrace"' "$events"
expect_contains self-event-bpf '"op":"bpf"' "$events"
expect_contains self-event-cgroup '"op":"cgroup_write"' "$events"
expect_contains self-event-unsafe-exec '"op":"unsafe_exec"' "$events"
expect_contains self-event-names-target "\"target\":\"pid $AGENT\"" "$events"
expect_contains self-event-file '"rule":"builtin: the agent'"'"'s binary"' "$(grep '"kind":"file"' /tmp/agent.out)"

# The one way it stops.
is_running "$AGENT" && pass self-alive-at-the-end "running" || fail self-alive-at-the-end "gone"
stop_agent
expect_eq self-signed-shutdown-stops-it 0 "$BG_STATUS"
expect_ok self-readable-after-shutdown cat /srv/demo/secret.txt
expect_eq self-pins-removed-on-shutdown "" "$(ls /sys/fs/bpf/bomfather 2>/dev/null)"
