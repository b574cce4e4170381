#!/bin/sh
# The harness itself: the right kernel booted with the BPF LSM active, the pseudo file systems are
# mounted, a glibc binary from the host runs with the libraries the harness collected, and lib.sh works.
. /scenarios/lib.sh

version=$(cat /proc/version)
echo "$version"
expect_contains smoke-kernel-series "Linux version $BFTEST_SERIES." "$version"

lsm=$(cat /sys/kernel/security/lsm)
echo "lsm: $lsm"
expect_contains smoke-lsm-has-bpf ",bpf" ",$lsm"

# The guest keeps time by the host's monotonic clock, not by the host CPU's TSC, which jumps when
# the machine running the tests is paused and resumed elsewhere (test/kernel/vm.ts HOST_TIME_PARAMETERS).
clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)
echo "clocksource: $clocksource"
expect_eq smoke-clock-not-tsc hpet "$clocksource"

mounts=$(cat /proc/mounts)
missing=""
for mount in "securityfs /sys/kernel/security" "bpf /sys/fs/bpf" "cgroup2 /sys/fs/cgroup" "tmpfs /tmp" "proc /proc"; do
  case "$mounts" in
    *" ${mount#* } ${mount% *} "*) ;;
    *) missing="$missing ${mount#* }" ;;
  esac
done
expect_eq smoke-mounts "" "$missing"

# /opt/host/ls is the host's GNU ls: it needs libc, libselinux and libpcre2 from the host.
expect_ok smoke-glibc-binary-runs /opt/host/ls --version
expect_contains smoke-glibc-binary-output "GNU coreutils" "$BF_OUT"

expect_eq smoke-as-user "1000:1000" "$(as_user tester id -u):$(as_user tester id -g)"
expect_fail_eperm smoke-eperm-detected as_user tester kill -0 1

start_bg /tmp/bg.log sh -c 'sleep 0.3; echo ready; exec sleep 100'
wait_for_line /tmp/bg.log '^ready$' 10 "$BG_PID"
expect_eq smoke-wait-for-line 0 $?
stop_bg "$BG_PID"
expect_eq smoke-stop-bg 143 "$BG_STATUS"

start_bg /tmp/dies.log sh -c 'echo starting; exit 3'
wait_for_line /tmp/dies.log '^ready$' 10 "$BG_PID"
expect_eq smoke-wait-for-line-sees-exit 2 $?
