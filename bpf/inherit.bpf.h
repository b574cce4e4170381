/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Policy inheritance: which named executable a task acts as.
 *
 * A task is its own executable unless bf_tasks_v2 holds an inherited identity for it:
 * - exec of a named executable: the task acts as that executable (any inherited identity
 *   is dropped);
 * - exec of any other program: if the task acted as a named executable with inherit on, it
 *   keeps acting as it; otherwise it is just the new program;
 * - fork/clone: the child starts with its parent's identity.
 * Processes that were running before the agent started have no inherited identity.
 */
#ifndef BF_INHERIT_BPF_H
#define BF_INHERIT_BPF_H

#include "maps.bpf.h"

/*
 * Fields are read by walking BTF pointers (plain loads the verifier guards, relocated by CO-RE),
 * not with BPF_CORE_READ: these run on every open and exec, and a helper call per field costs more.
 */
static __always_inline void bf_inode_of(struct inode *inode, __u32 *dev, __u64 *ino)
{
	*ino = inode->i_ino;
	*dev = inode->i_sb->s_dev;
}

/*
 * The identity the current task acts as; false for kernel threads (no executable) and for a task
 * that runs the agent's binary without being the agent (agent.bpf.h): neither holds any grant.
 */
static __always_inline bool bf_current_identity(struct task_struct *task, struct bf_inode_key *id)
{
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v2, task, 0, 0);
	if (t && (t->flags & BF_TASK_UNTRUSTED))
		return false;
	if (t && (t->flags & BF_TASK_INHERITED)) {
		*id = t->inherited;
		return true;
	}
	struct mm_struct *mm = task->mm;
	struct file *exe = mm ? mm->exe_file : NULL;
	if (!exe)
		return false;
	/*
	 * BPF_CORE_READ here: with plain loads the compiler merges these with the copy from task
	 * storage above into one instruction on two pointer types, which the verifier refuses.
	 */
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	id->pad = 0;
	return true;
}

/* The task is its own executable from now on (other flags stay). */
static __always_inline void bf_drop_inherited(struct task_struct *task)
{
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v2, task, 0, 0);
	if (t)
		t->flags &= ~BF_TASK_INHERITED;
}

static __always_inline int bf_exec_decide(struct linux_binprm *bprm)
{
	__u32 slot, generation;
	if (!bf_in_force(&slot, &generation))
		return 0;
	void *exes = bf_policy_map(&bf_exes_gen_v1, slot);
	if (!exes)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_inode_key next = {};
	bf_inode_of(bprm->file->f_inode, &next.dev, &next.ino);
	if (bpf_map_lookup_elem(exes, &next)) {
		bf_drop_inherited(task);
		return 0;
	}
	struct bf_inode_key cur = {};
	if (!bf_current_identity(task, &cur))
		return 0;
	struct bf_exe *named = bpf_map_lookup_elem(exes, &cur);
	if (named && (named->flags & BF_EXE_INHERIT)) {
		struct bf_task *t = bpf_task_storage_get(&bf_tasks_v2, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (t) {
			t->inherited = cur;
			t->flags |= BF_TASK_INHERITED;
		} else {
			bf_count(BF_STAT_TASK_STORAGE_FAILED);
		}
	} else {
		bf_drop_inherited(task);
	}
	return 0;
}

/* A new task starts with what its parent task carries. */
static __always_inline int bf_fork_decide(struct task_struct *child)
{
	struct bf_task *parent = bpf_task_storage_get(&bf_tasks_v2, bpf_get_current_task_btf(), 0, 0);
	if (!parent || !parent->flags)
		return 0;
	struct bf_task copy = *parent;
	struct bf_task *mine = bpf_task_storage_get(&bf_tasks_v2, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (mine)
		*mine = copy;
	else
		bf_count(BF_STAT_TASK_STORAGE_FAILED);
	return 0;
}

#endif /* BF_INHERIT_BPF_H */
