/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Policy inheritance and exec-time identity: which named executable a task acts as.
 *
 * A task is its own executable unless bf_tasks_v5 holds an inherited identity for it. An exec
 * decides it where the exec is committed and the file is final (bprm_creds_from_file: for a "#!"
 * script or a binfmt_misc program, the interpreter the kernel records as the task's executable):
 * - a named executable: the task acts as that executable, however it was started (any inherited
 *   identity is dropped); with a pinned digest that its content lacks, it holds no grant at all;
 * - any other program: if the task that called exec acted as a named executable with inherit on,
 *   it keeps acting as it; otherwise it is just the new program.
 * Who called exec is only known before the new program replaces the old one, so
 * bprm_creds_for_exec notes it (only when it is a named executable with inherit on) for the commit.
 * fork/clone: the child starts with its parent's identity.
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
 * The identity the current task acts as; false for kernel threads (no executable), for a task
 * that runs the agent's binary without being the agent (agent.bpf.h) and for one that runs a named
 * executable whose digest did not match: none of them holds any grant.
 */
static __always_inline bool bf_current_identity(struct task_struct *task, struct bf_inode_key *id)
{
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0);
	if (t && (t->flags & (BF_TASK_UNTRUSTED | BF_TASK_UNVERIFIED)))
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

/* The named executables of the generation in force; NULL when none is (counted). */
static __always_inline void *bf_exes_in_force(__u32 *generation)
{
	__u32 slot;
	if (!bf_in_force(&slot, generation))
		return NULL;
	return bf_policy_map(&bf_exes_gen_v2, slot);
}

/* 1 + rule id of the named executable an identity is, 0 when the policy does not name it (for events). */
static __always_inline __u32 bf_identity_rule(__u32 slot, bool known, struct bf_inode_key *id)
{
	if (!known)
		return 0;
	void *exes = bpf_map_lookup_elem(&bf_exes_gen_v2, &slot);
	struct bf_exe *named = exes ? bpf_map_lookup_elem(exes, id) : NULL;
	return named ? named->rule_id + 1 : 0;
}

/* The inode of the task's own executable file; false for kernel threads. */
static __always_inline bool bf_exe_inode(struct task_struct *task, struct bf_inode_key *key)
{
	struct inode *inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	if (!inode)
		return false;
	key->ino = BPF_CORE_READ(inode, i_ino);
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key->pad = 0;
	return true;
}

/*
 * A confinement the task keeps whatever it runs next (network.confine: restrictions always pass to
 * descendants, inherit on or off). One is held; a second, different one leaves it confined to the
 * destinations both allow, which the kernel does not compute: it then reaches none.
 */
static __always_inline void bf_keep_confinement(struct task_struct *task, struct bf_inode_key *confined)
{
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		/* Unrecorded, the confinement would end at this exec: the exec must not go on. */
		bf_count(BF_STAT_TASK_STORAGE_FAILED);
		bpf_send_signal(9 /* SIGKILL */);
		return;
	}
	if (!(t->flags & BF_TASK_CONFINED)) {
		t->confined = *confined;
		t->flags |= BF_TASK_CONFINED;
	} else if (t->confined.ino != confined->ino || t->confined.dev != confined->dev) {
		t->flags |= BF_TASK_CONFINED_MORE;
	}
}

/*
 * Before the exec: note the caller's identity when it is a named executable with inherit on
 * (the common case, a caller the policy does not name and that inherited nothing, costs one
 * lookup and no storage), and keep the confinement of a confined caller (by its identity, or by
 * its own program when it acts as another).
 */
static __always_inline int bf_exec_begin(void)
{
	__u32 generation;
	void *exes = bf_exes_in_force(&generation);
	if (!exes)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_inode_key cur = {};
	struct bf_exe *named = NULL;
	if (bf_current_identity(task, &cur))
		named = bpf_map_lookup_elem(exes, &cur);
	if (named && (named->flags & BF_EXE_CONFINED))
		bf_keep_confinement(task, &cur);
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0);
	if (t && (t->flags & (BF_TASK_INHERITED | BF_TASK_UNVERIFIED))) {
		struct bf_inode_key own = {};
		struct bf_exe *self = bf_exe_inode(task, &own) ? bpf_map_lookup_elem(exes, &own) : NULL;
		if (self && (self->flags & BF_EXE_CONFINED))
			bf_keep_confinement(task, &own);
	}
	if (named && (named->flags & BF_EXE_INHERIT)) {
		t = bpf_task_storage_get(&bf_tasks_v5, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (t) {
			t->launcher = cur;
			t->flags |= BF_TASK_LAUNCHER;
		} else {
			bf_count(BF_STAT_TASK_STORAGE_FAILED);
		}
		return 0;
	}
	if (t)
		t->flags &= ~BF_TASK_LAUNCHER;
	return 0;
}

static __always_inline void bf_report_digest(__u32 generation, struct bf_exe *named)
{
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_IDENTITY, BF_VERDICT_DENY, named->rule_id, 0, BF_OP_DIGEST);
	if (!e)
		return;
	e->identity = named->rule_id + 1;
	bpf_ringbuf_submit(e, 0);
}

/* Linux 6.8+ (the program that calls it is loaded only where the kernel has it). */
extern int bpf_get_fsverity_digest(struct file *file, struct bpf_dynptr *digest_ptr) __ksym __weak;

#define BF_FS_VERITY_HASH_ALG_SHA256 1 /* include/uapi/linux/fsverity.h */

/*
 * Does this named executable's file have the digest the policy pins? With kernel_measures (Linux
 * 6.8+), the kernel's own record of the file's fs-verity digest is compared, at every exec. Without
 * it, user space measured this very inode with FS_IOC_MEASURE_VERITY when it applied the generation
 * (fs-verity content cannot change afterwards, and the inode is the identity); a digest nobody
 * measured is not trusted. trusted is the hook's own pointer to the file (the kernel accepts only
 * such a pointer); NULL when it is another file (binfmt_misc's credentials from the script): such
 * an exec is not verified, and holds no grant.
 */
static __always_inline bool bf_digest_holds(struct bf_exe *named, struct file *trusted, bool kernel_measures)
{
	if (!kernel_measures)
		return named->flags & BF_EXE_MEASURED;
	if (!trusted)
		return false;
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_digest_buf *d = bpf_task_storage_get(&bf_verity_v1, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!d)
		return false;
	struct bpf_dynptr ptr;
	bool holds = false;
	if (!bpf_dynptr_from_mem(d, sizeof(*d), 0, &ptr) && !bpf_get_fsverity_digest(trusted, &ptr)) {
		/* -ENODATA above: no fs-verity on this file. */
		__u32 *w = d->words;
		holds = w[0] == (BF_FS_VERITY_HASH_ALG_SHA256 | (32 << 16)) &&
			named->digest0 == (w[1] | (__u64)w[2] << 32) && named->digest1 == (w[3] | (__u64)w[4] << 32) &&
			named->digest2 == (w[5] | (__u64)w[6] << 32) && named->digest3 == (w[7] | (__u64)w[8] << 32);
	}
	bpf_task_storage_delete(&bf_verity_v1, task);
	return holds;
}

/* What an exec makes of the task: decided by bf_exec_identity, applied by bf_exec_apply. */
enum bf_acts {
	BF_ACTS_SELF = 0,       /* its own program, which the policy does not name */
	BF_ACTS_NAMED = 1,      /* the named executable it runs */
	BF_ACTS_INHERITED = 2,  /* the named launcher (inherit on) that called exec */
	BF_ACTS_UNVERIFIED = 3, /* a named executable whose digest did not match: no grant */
};

struct bf_exec_decision {
	__u32 generation;
	__u32 acts;                   /* enum bf_acts */
	struct bf_exe *exe;           /* the named executable it acts as (or failed to be); NULL for SELF */
	struct bf_inode_key launcher; /* with BF_ACTS_INHERITED */
};

/*
 * The exec is committed and file is final: what will the task act as? file is the one the kernel
 * records as the task's executable (bprm->file); trusted as bf_digest_holds says. Nothing changes
 * yet: another check may still refuse the exec (runtime.bpf.h). False when no policy is in force.
 */
static __always_inline bool bf_exec_identity(struct file *file, struct file *trusted, bool kernel_measures,
					     struct bf_exec_decision *d)
{
	void *exes = bf_exes_in_force(&d->generation);
	if (!exes)
		return false;
	struct bf_inode_key next = {};
	bf_inode_of(file->f_inode, &next.dev, &next.ino);
	struct bf_exe *named = bpf_map_lookup_elem(exes, &next);
	if (named) {
		d->exe = named;
		d->acts = (named->flags & BF_EXE_DIGEST) && !bf_digest_holds(named, trusted, kernel_measures) ? BF_ACTS_UNVERIFIED
													: BF_ACTS_NAMED;
		return true;
	}
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, bpf_get_current_task_btf(), 0, 0);
	if (t && (t->flags & BF_TASK_LAUNCHER)) {
		d->launcher = t->launcher;
		d->exe = bpf_map_lookup_elem(exes, &d->launcher);
		d->acts = BF_ACTS_INHERITED;
	}
	return true;
}

/* The task acts as decided from now on. */
static __always_inline void bf_exec_apply(struct bf_exec_decision *d)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (d->acts == BF_ACTS_UNVERIFIED) {
		struct bf_task *u = bpf_task_storage_get(&bf_tasks_v5, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (u) {
			u->flags = (u->flags & ~(BF_TASK_INHERITED | BF_TASK_LAUNCHER)) | BF_TASK_UNVERIFIED;
		} else {
			/* No storage: the task would act as the named executable. It must not run. */
			bf_count(BF_STAT_TASK_STORAGE_FAILED);
			bpf_send_signal(9 /* SIGKILL */);
		}
		if (d->exe)
			bf_report_digest(d->generation, d->exe);
		return;
	}
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0);
	if (!t)
		return;
	if (d->acts == BF_ACTS_INHERITED) {
		t->inherited = d->launcher;
		t->flags = (t->flags & ~(BF_TASK_LAUNCHER | BF_TASK_UNVERIFIED)) | BF_TASK_INHERITED;
	} else {
		t->flags &= ~(BF_TASK_INHERITED | BF_TASK_LAUNCHER | BF_TASK_UNVERIFIED);
	}
}

/* A new task starts with what its parent task carries. */
static __always_inline int bf_fork_decide(struct task_struct *child)
{
	struct bf_task *parent = bpf_task_storage_get(&bf_tasks_v5, bpf_get_current_task_btf(), 0, 0);
	if (!parent || !(parent->flags & ~BF_TASK_LAUNCHER))
		return 0;
	struct bf_task copy = *parent;
	struct bf_task *mine = bpf_task_storage_get(&bf_tasks_v5, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (mine)
		*mine = copy;
	else
		bf_count(BF_STAT_TASK_STORAGE_FAILED);
	return 0;
}

#endif /* BF_INHERIT_BPF_H */
