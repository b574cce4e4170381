/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Runtime-hijack defense of the programs a policy trusts, on by default: every named executable
 * that holds a grant (bf_exe BF_EXE_RUNTIME), and every program that acts as one (a child that
 * inherited its identity), is hard to hijack while it runs:
 * - it starts in secure-execution mode (AT_SECURE): the dynamic loader ignores LD_PRELOAD,
 *   LD_AUDIT, LD_LIBRARY_PATH and the other loader variables, and GLIBC_TUNABLES' unsafe ones,
 *   wherever they sit in the environment. Nothing reads the environment, so nothing can race it;
 * - it cannot be started traced (PTRACE_TRACEME before exec, or a tracer attached to the caller):
 *   the exec is refused;
 * - nobody else attaches to it or touches its memory: ptrace attach and seize,
 *   process_vm_readv/writev, /proc/PID/mem, pidfd_getfd (the kernel's ATTACH checks), and it
 *   cannot ask to be traced. Its own processes (the same identity) are not refused.
 * In monitor mode (BF_EXE_MONITOR) each attempt is reported and let through.
 */
#ifndef BF_RUNTIME_BPF_H
#define BF_RUNTIME_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"

/* From include/linux/ptrace.h and security.h (macros do not reach BTF). */
#define BF_PTRACE_MODE_ATTACH 0x02
#define BF_LSM_UNSAFE_PTRACE 2

/* Report an attempt on a protected program; -EPERM, or 0 in monitor mode. */
static __always_inline int bf_runtime_refuse(__u32 generation, struct bf_exe *named, __u32 op, __u32 arg,
					     struct task_struct *target)
{
	bool monitor = named->flags & BF_EXE_MONITOR;
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_RUNTIME, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY,
					    named->rule_id, 0, op);
	if (e) {
		e->arg = arg;
		e->identity = named->rule_id + 1;
		e->target_pid = target ? BPF_CORE_READ(target, tgid) : 0;
		bf_event_exe_name(e);
		bpf_ringbuf_submit(e, 0);
	}
	return monitor ? 0 : -EPERM;
}

/* The protected named executable task acts as, and its identity; NULL when it is none. */
static __always_inline struct bf_exe *bf_runtime_protected(struct task_struct *task, __u32 *generation,
							   struct bf_inode_key *id)
{
	void *exes = bf_exes_in_force(generation);
	if (!exes || !bf_current_identity(task, id))
		return NULL;
	struct bf_exe *named = bpf_map_lookup_elem(exes, id);
	return named && (named->flags & BF_EXE_RUNTIME) ? named : NULL;
}

/* An exec decided (inherit.bpf.h): what it starts as is protected, so it starts safely, or not at all. */
static __always_inline int bf_runtime_exec_decide(struct linux_binprm *bprm, struct bf_exec_decision *d)
{
	if ((d->acts != BF_ACTS_NAMED && d->acts != BF_ACTS_INHERITED) || !d->exe || !(d->exe->flags & BF_EXE_RUNTIME))
		return 0;
	bpf_bprm_opts_set(bprm, BPF_F_BPRM_SECUREEXEC);
	if (bprm->unsafe & BF_LSM_UNSAFE_PTRACE)
		return bf_runtime_refuse(d->generation, d->exe, BF_OP_TRACED_EXEC, 0, NULL);
	return 0;
}

/* ptrace_access_check: attaching to, or reading or writing the memory of, a protected program. */
static __always_inline int bf_runtime_ptrace_decide(struct task_struct *target, unsigned int mode)
{
	if (!(mode & BF_PTRACE_MODE_ATTACH))
		return 0; /* reading /proc/PID/stat and the like */
	__u32 generation;
	struct bf_inode_key victim = {}, tracer = {};
	struct bf_exe *named = bf_runtime_protected(target, &generation, &victim);
	if (!named)
		return 0;
	if (bf_current_identity(bpf_get_current_task_btf(), &tracer) && tracer.ino == victim.ino && tracer.dev == victim.dev)
		return 0;
	return bf_runtime_refuse(generation, named, BF_OP_PTRACE, mode, target);
}

/* ptrace_traceme: a protected program asking to be traced by its parent. */
static __always_inline int bf_runtime_traceme_decide(void)
{
	__u32 generation;
	struct bf_inode_key id = {};
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_exe *named = bf_runtime_protected(task, &generation, &id);
	return named ? bf_runtime_refuse(generation, named, BF_OP_PTRACE, 0, task) : 0;
}

#endif /* BF_RUNTIME_BPF_H */
