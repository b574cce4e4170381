#!/bin/sh
# Harness self-test: the emulator keeps up with live patching of kernel code. A tracepoint in the
# exec path is switched on and off (a static key: its call sites are patched with int3 first, as a
# BPF trampoline's are) while other processes exec and open files without pause. With two virtual
# CPUs QEMU's TCG locked 6.1 up (a CPU looping on a stale int3 translation) and oopsed 6.12 within
# a minute of this (see test/kernel/vm.ts VM_CPUS); no BPF program is involved, so a failure here is
# the emulator, not the agent.
. /scenarios/lib.sh
. /opt/bench/env.sh # PATCH_CYCLES

mount -t tracefs tracefs /sys/kernel/tracing || { fail code-patching "cannot mount tracefs"; exit 1; }
start_bg /tmp/load-exec.log sh -c 'while :; do /opt/bench/forkexec /bin/true 50 || exit 1; done'
start_bg /tmp/load-exec2.log sh -c 'while :; do /opt/bench/forkexec /bin/true 50 || exit 1; done'
start_bg /tmp/load-open.log sh -c 'while :; do /opt/bench/openclose /bin/true 2000 || exit 1; done'
events=/sys/kernel/tracing/events
i=0
while [ $i -lt "$PATCH_CYCLES" ]; do
  echo 1 >$events/sched/sched_process_exec/enable
  echo 1 >$events/syscalls/sys_enter_openat/enable
  echo 0 >$events/sched/sched_process_exec/enable
  echo 0 >$events/syscalls/sys_enter_openat/enable
  i=$((i + 1))
done
umount /sys/kernel/tracing
pass code-patching "switched two tracepoints on and off $i times under exec and open load"
