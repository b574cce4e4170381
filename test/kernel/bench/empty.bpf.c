// SPDX-License-Identifier: GPL-2.0
// Empty programs on the agent's hooks: the floor the agent's cost is compared against.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/file_open")
int BPF_PROG(empty_file_open, struct file *file, int ret)
{
	return ret;
}

SEC("lsm/bprm_creds_for_exec")
int BPF_PROG(empty_bprm_creds_for_exec, struct linux_binprm *bprm, int ret)
{
	return ret;
}

SEC("lsm/task_alloc")
int BPF_PROG(empty_task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	return ret;
}
