# Helpers for scenario scripts (busybox ash). A scenario starts with:   . /scenarios/lib.sh
#
# Each check reports one line on stdout, which the host reads (test/kernel/protocol.ts):
#   BFTEST <name> PASS <detail>
#   BFTEST <name> FAIL <detail>
# Names are one word (letters, digits, "_", ".", "-"); the detail is squeezed onto one line.
# Everything a scenario prints is shown on the host when one of its checks fails.

BF_BG_PIDS=""
# lib.sh keeps its own files here, not in /tmp, so a scenario may remount /tmp read-only or noexec.
BF_SCRATCH=/run/bftest
mkdir -p "$BF_SCRATCH"

bf_report() { # STATUS NAME DETAIL...
  local status=$1 name=$2
  shift 2
  case "$name" in
    "" | *[!A-Za-z0-9_.-]*)
      echo "BFTEST bad-name FAIL check name \"$name\" must be letters, digits, _ . -"
      return
      ;;
  esac
  echo "BFTEST $name $status $(printf '%s' "$*" | tr '\r\n\t' '   ')"
}

pass() { # NAME DETAIL...
  bf_report PASS "$@"
}

fail() { # NAME DETAIL...
  bf_report FAIL "$@"
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [ "$2" = "$3" ]; then
    pass "$1" "got \"$3\""
  else
    fail "$1" "expected \"$2\", got \"$3\""
  fi
}

# expect_contains NAME NEEDLE HAYSTACK
expect_contains() {
  case "$3" in
    *"$2"*) pass "$1" "found \"$2\"" ;;
    *) fail "$1" "\"$2\" not found in \"$3\"" ;;
  esac
}

# expect_not_contains NAME NEEDLE HAYSTACK
expect_not_contains() {
  case "$3" in
    *"$2"*) fail "$1" "\"$2\" unexpectedly found in \"$3\"" ;;
    *) pass "$1" "\"$2\" absent" ;;
  esac
}

# expect_ok NAME CMD...: the command must succeed. Its output is kept in $BF_OUT and $BF_ERR.
expect_ok() {
  local name=$1
  shift
  bf_capture "$@"
  if [ "$BF_STATUS" -eq 0 ]; then
    pass "$name" "\"$*\" succeeded"
  else
    fail "$name" "\"$*\" failed with status $BF_STATUS: $BF_ERR"
  fi
}

# expect_fail_eperm NAME CMD...: the command must fail and its stderr say "Operation not permitted".
expect_fail_eperm() {
  local name=$1
  shift
  bf_capture "$@"
  if [ "$BF_STATUS" -eq 0 ]; then
    fail "$name" "\"$*\" succeeded but should have been denied (stdout: $BF_OUT)"
  else
    case "$BF_ERR" in
      *"Operation not permitted"*) pass "$name" "\"$*\" denied: $BF_ERR" ;;
      *) fail "$name" "\"$*\" failed with status $BF_STATUS but not with EPERM: $BF_ERR" ;;
    esac
  fi
}

# expect_status NAME STATUS CMD...: the command must exit with STATUS.
expect_status() {
  local name=$1 expected=$2
  shift 2
  bf_capture "$@"
  if [ "$BF_STATUS" -eq "$expected" ]; then
    pass "$name" "\"$*\" exited with $expected"
  else
    fail "$name" "\"$*\" exited with $BF_STATUS, expected $expected: $BF_ERR"
  fi
}

# bf_capture CMD...: runs the command; sets BF_STATUS, BF_OUT and BF_ERR and echoes them to the log.
bf_capture() {
  "$@" >"$BF_SCRATCH/out" 2>"$BF_SCRATCH/err"
  BF_STATUS=$?
  BF_OUT=$(cat "$BF_SCRATCH/out")
  BF_ERR=$(cat "$BF_SCRATCH/err")
  echo "+ $* -> status $BF_STATUS"
  [ -n "$BF_OUT" ] && echo "$BF_OUT" | sed 's/^/  stdout: /'
  [ -n "$BF_ERR" ] && echo "$BF_ERR" | sed 's/^/  stderr: /'
  return 0
}

# as_user USER CMD...: runs the command as USER from /etc/passwd ("tester" is uid 1000, gid 1000).
as_user() {
  local user=$1
  shift
  su -s /bin/sh -c 'exec "$0" "$@"' -- "$user" "$@"
}

# start_bg LOGFILE CMD...: starts the command in the background, stdout and stderr to LOGFILE.
# Sets BG_PID. Every process started this way is killed when the scenario exits.
start_bg() {
  local log=$1
  shift
  : >"$log" # emptied here: the redirection below happens in the child, possibly after wait_for_line reads
  "$@" >"$log" 2>&1 </dev/null &
  BG_PID=$!
  BF_BG_PIDS="$BF_BG_PIDS $BG_PID"
  echo "+ started pid $BG_PID: $* (log $log)"
}

# wait_for_line FILE PATTERN SECONDS [PID]: waits until a line of FILE matches PATTERN (grep -E).
# Returns 0 when it does, 1 on timeout, 2 when PID (if given) has exited first.
wait_for_line() {
  local file=$1 pattern=$2 deadline=$(($(date +%s) + $3)) pid=$4
  while :; do
    if [ -f "$file" ] && grep -Eq -- "$pattern" "$file"; then return 0; fi
    if [ -n "$pid" ] && ! is_running "$pid"; then
      grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
      return 2
    fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# is_running PID: true while the process exists and is not a zombie waiting to be reaped. A
# status that cannot be read is a process being reaped (reading it fails with ESRCH while its
# /proc entry still resolves): not running. (Taking that for "running" once made a clean exit
# look like an agent that would not stop.)
is_running() {
  local st
  st=$(cat "/proc/$1/status" 2>/dev/null) || return 1
  case "$st" in
    *"State:"*"(zombie)"*) return 1 ;;
  esac
  [ -n "$st" ]
}

# stop_bg PID: sends SIGTERM, then SIGKILL after 5 seconds; sets BG_STATUS to the exit status.
stop_bg() {
  local pid=$1 tries=0
  kill -TERM "$pid" 2>/dev/null
  while is_running "$pid" && [ "$tries" -lt 50 ]; do
    sleep 0.1
    tries=$((tries + 1))
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  BG_STATUS=$?
}

# show_file FILE: copies a file into the scenario's log, for diagnosis on the host.
show_file() {
  echo "--- $1"
  cat "$1" 2>&1
  echo "--- end of $1"
}

bf_cleanup() {
  local pid
  # An agent still running refuses every signal: ask it to stop the only way it obeys.
  [ -S /run/bomfather/control.sock ] && bomfather shutdown --sign /opt/keys/test.pem >/dev/null 2>&1
  for pid in $BF_BG_PIDS; do kill -KILL "$pid" 2>/dev/null; done
}
trap bf_cleanup EXIT
trap 'exit 143' TERM INT

# stop_agent [PID]: stops the agent with a shutdown signed by the scenarios' key (the only way it
# stops), then wait_agent_exit.
stop_agent() {
  bf_capture bomfather shutdown --sign /opt/keys/test.pem
  wait_agent_exit "$@"
}

# wait_agent_exit [PID]: waits up to 180 s for PID (default $AGENT) to exit and says how long it
# took; sets BG_STATUS (255: still running). Enforcement ends before the shutdown's reply, but
# detaching the programs costs the kernel a grace period each (seconds under load on 6.12).
wait_agent_exit() {
  local pid=${1:-$AGENT} tries=0 running=1
  while [ "$tries" -lt 1800 ]; do
    is_running "$pid" || { running=0; break; }
    sleep 0.1
    tries=$((tries + 1))
  done
  if [ "$running" = 1 ]; then
    show_stuck "$pid"
    BG_STATUS=255
    return
  fi
  wait "$pid"
  BG_STATUS=$?
  echo "+ agent $pid exited with status $BG_STATUS about $((tries / 10)) s after the shutdown"
}

# show_stuck PID: where a process that should have exited is waiting: its state, and each
# thread's kernel wait channel and stack; then every blocked task's stack in the kernel log.
show_stuck() {
  local pid=$1 t
  echo "--- pid $pid did not exit: $(grep -E '^(State|Threads):' "/proc/$pid/status" 2>/dev/null | tr '\n\t' '  ')"
  for t in /proc/"$pid"/task/*; do
    echo "thread ${t##*/} ($(cat "$t/comm" 2>/dev/null)): $(grep '^State:' "$t/status" 2>/dev/null | tr '\t' ' ') wchan=$(cat "$t/wchan" 2>/dev/null)"
    sed 's/^/    /' "$t/stack" 2>/dev/null
  done
  echo w >/proc/sysrq-trigger 2>/dev/null && dmesg | tail -60
}

# start_agent CHECK POLICY: starts `bomfather --policy POLICY` in the background, events (stdout)
# in /tmp/agent.out and status messages (stderr) in /tmp/agent.err, and waits until it enforces.
# Sets AGENT to its pid. On failure reports CHECK as failed and returns 1. With
# START_AGENT_SETSID=1 the agent gets a session (and process group) of its own.
start_agent() {
  local check=$1 policy=$2
  # Empty the logs first: the redirections below happen in the child, after this shell may
  # already be reading a previous agent's "enforcing" line.
  : >/tmp/agent.out
  : >/tmp/agent.err
  if [ "$START_AGENT_SETSID" = 1 ]; then
    setsid bomfather --policy "$policy" >/tmp/agent.out 2>/tmp/agent.err </dev/null &
  else
    bomfather --policy "$policy" >/tmp/agent.out 2>/tmp/agent.err </dev/null &
  fi
  AGENT=$!
  BF_BG_PIDS="$BF_BG_PIDS $AGENT"
  echo "+ started bomfather --policy $policy (pid $AGENT)"
  if ! wait_for_line /tmp/agent.err "^bomfather: enforcing" 120 "$AGENT"; then
    show_file /tmp/agent.err
    fail "$check" "bomfather did not start enforcing $policy"
    return 1
  fi
  pass "$check" "$(grep '^bomfather: enforcing' /tmp/agent.err)"
}

# load_module NAME: makes sure the kernel has module NAME. Built in (modules.builtin) or loaded: done;
# otherwise insmod it, after what it depends on (modules.dep), from /lib/modules/$(uname -r), where
# the harness puts the booted kernel's modules (kernels.ts GUEST_MODULES, decompressed).
# Returns non-zero with a message on stderr when it cannot.
load_module() {
  local name dir dep path deps order="" line mod
  name=$(echo "$1" | tr - _)
  dir=/lib/modules/$(uname -r)
  [ -d "/sys/module/$name" ] && return 0
  grep -Eq "/$name\\.ko(\\.[a-z]+)?\$" "$dir/modules.builtin" 2>/dev/null && return 0
  # modules.dep names files with "-" or "_" as in the source tree.
  line=$(grep -E "(^|/)($name|$(echo "$name" | tr _ -))\\.ko:" "$dir/modules.dep" 2>/dev/null)
  if [ -z "$line" ]; then
    echo "load_module: no module $name for kernel $(uname -r) in $dir (list it in GUEST_MODULES of test/kernel/kernels.ts)" >&2
    return 1
  fi
  path=${line%%:*}
  deps=${line#*:}
  # depmod's order: the last dependency is loaded first.
  for dep in $deps; do order="$dep $order"; done
  for dep in $order $path; do
    mod=$(basename "$dep" .ko | tr - _)
    [ -d "/sys/module/$mod" ] && continue
    if ! insmod "$dir/$dep" 2>"$BF_SCRATCH/insmod.err"; then
      echo "load_module: insmod $dir/$dep failed: $(cat "$BF_SCRATCH/insmod.err")" >&2
      return 1
    fi
    echo "+ insmod $dir/$dep"
  done
}

# make_verity_fs DIR [SIZE_MB]: makes an ext4 file system with the verity feature, in a SIZE_MB
# (default 32) image file in /tmp on a loop device, and mounts it on DIR (made if missing). fs-verity
# needs both the feature and a block size equal to the page size (4096; mke2fs would pick 1024 for
# a small file system). Sets VERITY_DEV and VERITY_IMG. Returns non-zero with a message on stderr on
# failure; remove_verity_fs DIR undoes it.
make_verity_fs() {
  local dir=$1 size=${2:-32} img dev
  if [ -z "$dir" ]; then
    echo "make_verity_fs: usage: make_verity_fs DIR [SIZE_MB]" >&2
    return 2
  fi
  load_module loop || return 1
  img=$(mktemp /tmp/verity-fs.XXXXXX) || { echo "make_verity_fs: cannot make an image file in /tmp" >&2; return 1; }
  if ! truncate -s "${size}M" "$img" 2>"$BF_SCRATCH/verity.err" ||
    ! mkfs.ext4 -q -F -b 4096 -O verity "$img" >"$BF_SCRATCH/verity.err" 2>&1; then
    echo "make_verity_fs: mkfs.ext4 -b 4096 -O verity $img failed: $(cat "$BF_SCRATCH/verity.err")" >&2
    rm -f "$img"
    return 1
  fi
  # loop-control hands out a free device, made on demand; devtmpfs adds its node.
  if ! dev=$(losetup -f 2>"$BF_SCRATCH/verity.err") || ! losetup "$dev" "$img" 2>>"$BF_SCRATCH/verity.err"; then
    echo "make_verity_fs: cannot attach $img to a loop device ($dev): $(cat "$BF_SCRATCH/verity.err")" >&2
    rm -f "$img"
    return 1
  fi
  mkdir -p "$dir"
  if ! mount -t ext4 "$dev" "$dir" 2>"$BF_SCRATCH/verity.err"; then
    echo "make_verity_fs: mount -t ext4 $dev $dir failed: $(cat "$BF_SCRATCH/verity.err")" >&2
    losetup -d "$dev"
    rm -f "$img"
    return 1
  fi
  VERITY_DEV=$dev
  VERITY_IMG=$img
  echo "+ verity file system: $img on $dev mounted on $dir"
}

# remove_verity_fs DIR: unmounts what make_verity_fs mounted on DIR, detaches its loop device and
# removes its image, so the next scenario finds the VM as it was.
remove_verity_fs() {
  local dir=$1 dev img
  dev=$(awk -v dir="$dir" '$2 == dir { print $1 }' /proc/mounts | tail -1)
  [ -n "$dev" ] || { echo "remove_verity_fs: nothing mounted on $dir" >&2; return 1; }
  img=$(cat "/sys/block/${dev##*/}/loop/backing_file" 2>/dev/null)
  umount "$dir" || return 1
  losetup -d "$dev" 2>/dev/null
  [ -n "$img" ] && rm -f "$img"
  return 0
}
