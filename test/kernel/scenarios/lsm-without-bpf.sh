#!/bin/sh
# Booted with lsm= lacking bpf (the mode in which the agent must refuse to start).
. /scenarios/lib.sh

lsm=$(cat /sys/kernel/security/lsm)
echo "lsm: $lsm"
expect_not_contains lsm-list-lacks-bpf ",bpf," ",$lsm,"
