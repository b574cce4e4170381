# Booted without bpf in lsm=: the agent must not pretend. doctor and run exit 3 and say how
# to fix it, and nothing is enforced.
. /scenarios/lib.sh

mkdir -p /srv/demo
echo "the demo secret" >/srv/demo/secret.txt

expect_status refuse-doctor-exit-3 3 bomfather doctor
expect_contains refuse-doctor-lsm-hint "lsm=" "$BF_OUT"
expect_contains refuse-doctor-verdict "cannot enforce" "$BF_OUT"
expect_status refuse-run-exit-3 3 bomfather --policy /policies/demo.yaml
expect_contains refuse-run-explains "bpf in the active LSM list" "$BF_ERR"
expect_contains refuse-run-hint "GRUB_CMDLINE_LINUX" "$BF_ERR"
expect_ok refuse-nothing-enforced cat /srv/demo/secret.txt
