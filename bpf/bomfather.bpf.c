// SPDX-License-Identifier: GPL-2.0
/*
 * Entry points of the agent's BPF programs: one thin function per LSM hook, named after
 * the hook. The decisions live in the headers: file.bpf.h (opens of protected files) and
 * inherit.bpf.h (which named executable a task acts as).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bomfather.h"

#define EPERM 1 /* errno values are macros: they do not reach vmlinux.h */

#include "maps.bpf.h"
#include "inherit.bpf.h"
#include "file.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Anchors the shared types in BTF so user space can check its view of them. */
struct bf_event bf_btf_anchor_event __attribute__((unused));
enum bf_abi bf_btf_anchor_abi __attribute__((unused));
enum bf_verdict bf_btf_anchor_verdict __attribute__((unused));
enum bf_access bf_btf_anchor_access __attribute__((unused));
enum bf_mode bf_btf_anchor_mode __attribute__((unused));
enum bf_stat bf_btf_anchor_stat __attribute__((unused));
enum bf_event_kind bf_btf_anchor_kind __attribute__((unused));
enum bf_exe_flag bf_btf_anchor_exe_flag __attribute__((unused));
struct bf_exe bf_btf_anchor_exe __attribute__((unused));

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_file_open_decide(file);
}

SEC("lsm/bprm_creds_for_exec")
int BPF_PROG(bprm_creds_for_exec, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return bf_exec_decide(bprm);
}

SEC("lsm/task_alloc")
int BPF_PROG(task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	if (ret)
		return ret;
	return bf_fork_decide(task);
}
