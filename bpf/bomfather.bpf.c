// SPDX-License-Identifier: GPL-2.0
/*
 * Entry points of the agent's BPF programs: one thin function per LSM hook, named after
 * the hook. The decisions live in the headers: file.bpf.h (operations on protected files) and
 * inherit.bpf.h (which named executable a task acts as) and identity.bpf.h (nobody changes
 * the executable the kernel records for a process).
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
#include "identity.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Anchors the shared types in BTF so user space can check its view of them. */
struct bf_event bf_btf_anchor_event __attribute__((unused));
enum bf_abi bf_btf_anchor_abi __attribute__((unused));
enum bf_verdict bf_btf_anchor_verdict __attribute__((unused));
enum bf_access bf_btf_anchor_access __attribute__((unused));
enum bf_mode bf_btf_anchor_mode __attribute__((unused));
enum bf_stat bf_btf_anchor_stat __attribute__((unused));
enum bf_event_kind bf_btf_anchor_kind __attribute__((unused));
enum bf_op bf_btf_anchor_op __attribute__((unused));
enum bf_rule_builtin bf_btf_anchor_rule_builtin __attribute__((unused));
enum bf_exe_flag bf_btf_anchor_exe_flag __attribute__((unused));
struct bf_exe bf_btf_anchor_exe __attribute__((unused));

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_file_decide(file->f_inode, bf_access_of(file), BF_OP_OPEN, &file->f_path);
}

/*
 * truncate, chmod, chown and utimes all reach notify_change() and this hook. Its arguments
 * changed in 6.3 (a struct mnt_idmap * came first), and CO-RE does not relocate hook
 * arguments: read them from the context by position, chosen by whether the kernel has
 * struct mnt_idmap; the call not taken is removed at load time. The two readers are separate
 * functions so that the compiler cannot fold them into one load at a variable context
 * offset, which the verifier refuses.
 */
static __noinline int bf_setattr_since_6_3(unsigned long long *ctx)
{
	/* (struct mnt_idmap *idmap, struct dentry *dentry, struct iattr *attr, int ret) */
	struct dentry *dentry = (struct dentry *)ctx[1];
	int ret = (int)ctx[3];
	if (ret)
		return ret;
	return bf_file_decide(dentry->d_inode, BF_ACCESS_WRITE, BF_OP_SETATTR, NULL);
}

static __noinline int bf_setattr_before_6_3(unsigned long long *ctx)
{
	/* (struct dentry *dentry, struct iattr *attr, int ret) */
	struct dentry *dentry = (struct dentry *)ctx[0];
	int ret = (int)ctx[2];
	if (ret)
		return ret;
	return bf_file_decide(dentry->d_inode, BF_ACCESS_WRITE, BF_OP_SETATTR, NULL);
}

SEC("lsm/inode_setattr")
int inode_setattr(unsigned long long *ctx)
{
	if (bpf_core_type_exists(struct mnt_idmap))
		return bf_setattr_since_6_3(ctx);
	return bf_setattr_before_6_3(ctx);
}

SEC("lsm/inode_unlink")
int BPF_PROG(inode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return bf_file_decide(dentry->d_inode, BF_ACCESS_WRITE, BF_OP_UNLINK, NULL);
}

/* Renaming a protected file, or replacing one by renaming another file over it. */
SEC("lsm/inode_rename")
int BPF_PROG(inode_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	ret = bf_file_decide(old_dentry->d_inode, BF_ACCESS_WRITE, BF_OP_RENAME, NULL);
	if (ret)
		return ret;
	ret = bf_file_decide(new_dentry->d_inode, BF_ACCESS_WRITE, BF_OP_RENAME, NULL);
	if (ret)
		return ret;
	bf_rename_carry_protection(old_dentry->d_inode, new_dentry->d_inode);
	return 0;
}

SEC("lsm/inode_free_security")
void BPF_PROG(inode_free_security, struct inode *inode)
{
	bf_inode_gone(inode);
}

/* A descriptor passed over a Unix socket (SCM_RIGHTS) or taken with pidfd_getfd. */
SEC("lsm/file_receive")
int BPF_PROG(file_receive, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_file_decide(file->f_inode, bf_access_of(file), BF_OP_RECEIVE, &file->f_path);
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

/*
 * Returning 0 lets the kernel go on to its own handling: the BPF LSM default for this hook is
 * -ENOSYS ("no LSM handled it"), which the stub returns when every program returned 0.
 */
SEC("lsm/task_prctl")
int BPF_PROG(task_prctl, int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
	     unsigned long arg5, int ret)
{
	if (ret)
		return ret;
	return bf_prctl_decide(option, arg2);
}
