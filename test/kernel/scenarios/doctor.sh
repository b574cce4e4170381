# `bomfather doctor` on a kernel with the BPF LSM on: every required check passes, including
# the real test load; and the binary needs no writable or executable /tmp.
. /scenarios/lib.sh

expect_status doctor-exit-0 0 bomfather doctor
expect_contains doctor-probe-ran "[ok  ] BPF LSM programs load, attach and run" "$BF_OUT"
expect_contains doctor-lsm-listed "[ok  ] bpf in the active LSM list" "$BF_OUT"
expect_contains doctor-agent-programs-load "[ok  ] The agent's programs pass this kernel's verifier" "$BF_OUT"
expect_contains doctor-verdict "This host can enforce" "$BF_OUT"

bf_capture bomfather doctor --json
expect_contains doctor-json '"canEnforce": true' "$BF_OUT"

# /tmp read-only and noexec: the shim goes through a memfd, nothing is written to /tmp.
mount -t tmpfs -o ro,noexec,nosuid,nodev tmpfs /tmp
bomfather doctor >/run/doctor.out 2>&1
status=$?
umount /tmp
cat /run/doctor.out
expect_eq doctor-with-readonly-noexec-tmp 0 "$status"
