// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest LSM program: `bomfather doctor` and `run` load and attach it to prove that
 * this kernel really runs BPF LSM programs (a `bpf` entry in the lsm list is not proof).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/file_open")
int BPF_PROG(probe_file_open, struct file *file, int ret)
{
	return ret;
}
