// SPDX-License-Identifier: GPL-2.0
/*
 * Entry points of the agent's BPF programs: one thin function per LSM hook, named after
 * the hook. The decisions live in the headers: file.bpf.h (operations on protected files and
 * guarded directories), inherit.bpf.h (which named executable a task acts as), runtime.bpf.h (the
 * programs a policy trusts are not hijacked while they run), identity.bpf.h
 * (nobody changes the executable the kernel records for a process), agent.bpf.h (nobody but
 * the agent stops or rewires the agent) and net.bpf.h (who may reach which destination).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bomfather.h"

#define EPERM 1 /* errno values are macros: they do not reach vmlinux.h */

#include "maps.bpf.h"
#include "inherit.bpf.h"
#include "file.bpf.h"
#include "identity.bpf.h"
#include "runtime.bpf.h"
#include "agent.bpf.h"
#include "net.bpf.h"

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
struct bf_file_rule bf_btf_anchor_file_rule __attribute__((unused));
struct bf_grant_key bf_btf_anchor_grant_key __attribute__((unused));
struct bf_grant bf_btf_anchor_grant __attribute__((unused));
struct bf_state bf_btf_anchor_state __attribute__((unused));
struct bf_task bf_btf_anchor_task __attribute__((unused));
struct bf_agent bf_btf_anchor_agent __attribute__((unused));
enum bf_unsafe bf_btf_anchor_unsafe __attribute__((unused));
enum bf_fileless bf_btf_anchor_fileless __attribute__((unused));
enum bf_policy_entry bf_btf_anchor_policy_entry __attribute__((unused));
enum bf_agent_flag bf_btf_anchor_agent_flag __attribute__((unused));
enum bf_task_flag bf_btf_anchor_task_flag __attribute__((unused));
enum bf_object_kind bf_btf_anchor_object_kind __attribute__((unused));
struct bf_object_key bf_btf_anchor_object_key __attribute__((unused));
struct bf_env_rules bf_btf_anchor_env_rules __attribute__((unused));
struct bf_dest_key bf_btf_anchor_dest_key __attribute__((unused));
struct bf_dest bf_btf_anchor_dest __attribute__((unused));
struct bf_port_key bf_btf_anchor_port_key __attribute__((unused));
struct bf_port_dest bf_btf_anchor_port_dest __attribute__((unused));
struct bf_confinement bf_btf_anchor_confinement __attribute__((unused));
struct bf_net_policy bf_btf_anchor_net_policy __attribute__((unused));
enum bf_net_reason bf_btf_anchor_net_reason __attribute__((unused));
enum bf_net_flag bf_btf_anchor_net_flag __attribute__((unused));
enum bf_dest_flag bf_btf_anchor_dest_flag __attribute__((unused));
enum bf_file_flag bf_btf_anchor_file_flag __attribute__((unused));
enum bf_trees_entry bf_btf_anchor_trees_entry __attribute__((unused));

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_open_decide(file, bf_access_of(file), BF_OP_OPEN, true, 0);
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
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_SETATTR, false);
}

static __noinline int bf_setattr_before_6_3(unsigned long long *ctx)
{
	/* (struct dentry *dentry, struct iattr *attr, int ret) */
	struct dentry *dentry = (struct dentry *)ctx[0];
	int ret = (int)ctx[2];
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_SETATTR, false);
}

SEC("lsm/inode_setattr")
int inode_setattr(unsigned long long *ctx)
{
	if (bpf_core_type_exists(struct mnt_idmap))
		return bf_setattr_since_6_3(ctx);
	return bf_setattr_before_6_3(ctx);
}

/* Removing an entry changes the directory and removes (a link to) the file. */
static __always_inline int bf_remove_decide(struct dentry *dentry)
{
	int ret = bf_dir_decide(dentry, BF_OP_UNLINK);
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_UNLINK, true);
}

SEC("lsm/inode_unlink")
int BPF_PROG(inode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return bf_remove_decide(dentry);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(inode_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return bf_remove_decide(dentry);
}

/* New entries in a guarded directory: files, directories, nodes, symbolic and hard links. */
/* A new entry: the directory may be guarded, and the name may be the loader's preload list. */
static __always_inline int bf_new_entry_decide(struct inode *dir, struct dentry *dentry, __u32 op)
{
	int ret = bf_dir_decide(dentry, op);
	if (ret)
		return ret;
	return bf_preload_entry_decide(dir, dentry, op);
}

SEC("lsm/inode_create")
int BPF_PROG(inode_create, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	if (ret)
		return ret;
	return bf_new_entry_decide(dir, dentry, BF_OP_CREATE);
}

SEC("lsm/inode_mkdir")
int BPF_PROG(inode_mkdir, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	if (ret)
		return ret;
	return bf_dir_decide(dentry, BF_OP_CREATE);
}

SEC("lsm/inode_mknod")
int BPF_PROG(inode_mknod, struct inode *dir, struct dentry *dentry, umode_t mode, dev_t dev, int ret)
{
	if (ret)
		return ret;
	return bf_new_entry_decide(dir, dentry, BF_OP_CREATE);
}

SEC("lsm/inode_symlink")
int BPF_PROG(inode_symlink, struct inode *dir, struct dentry *dentry, const char *old_name, int ret)
{
	if (ret)
		return ret;
	return bf_new_entry_decide(dir, dentry, BF_OP_CREATE);
}

SEC("lsm/inode_link")
int BPF_PROG(inode_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	ret = bf_new_entry_decide(dir, new_dentry, BF_OP_CREATE);
	if (ret)
		return ret;
	bf_tree_instantiate(new_dentry, old_dentry->d_inode); /* a hard link into a tree: the file takes its rule */
	return 0;
}

/* Mounting over a guarded directory would hide it; over the directory a rule names, nobody may. */
SEC("lsm/sb_mount")
int BPF_PROG(sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags,
	     void *data, int ret)
{
	if (ret)
		return ret;
	ret = bf_entry_decide(path->dentry, BF_ACCESS_WRITE, BF_OP_CREATE, true);
	if (ret)
		return ret;
	bf_tree_mounted(path->dentry->d_inode);
	return 0;
}

SEC("lsm/move_mount")
int BPF_PROG(move_mount, const struct path *from_path, const struct path *to_path, int ret)
{
	if (ret)
		return ret;
	ret = bf_entry_decide(to_path->dentry, BF_ACCESS_WRITE, BF_OP_CREATE, true);
	if (ret)
		return ret;
	bf_tree_mounted(to_path->dentry->d_inode);
	return 0;
}

/* Renaming a protected file, or replacing one by renaming another file over it. */
SEC("lsm/inode_rename")
int BPF_PROG(inode_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	ret = bf_dir_decide(old_dentry, BF_OP_RENAME);
	if (ret)
		return ret;
	ret = bf_dir_decide(new_dentry, BF_OP_RENAME);
	if (ret)
		return ret;
	ret = bf_entry_decide(old_dentry, BF_ACCESS_WRITE, BF_OP_RENAME, true);
	if (ret)
		return ret;
	ret = bf_entry_decide(new_dentry, BF_ACCESS_WRITE, BF_OP_RENAME, true);
	if (ret)
		return ret;
	ret = bf_preload_entry_decide(new_dir, new_dentry, BF_OP_RENAME);
	if (ret)
		return ret;
	bf_rename_carry_protection(old_dentry->d_inode, new_dentry->d_inode);
	bf_tree_moved(new_dir, old_dentry->d_inode);
	return 0;
}

/*
 * Extended attributes change a file as much as its content does (security.capability gives a
 * program capabilities, trusted.* and user.* carry what other programs trust): writing needed.
 * The dentry is the second argument on every kernel (the first became a struct mnt_idmap * in 6.3).
 */
SEC("lsm/inode_setxattr")
int BPF_PROG(inode_setxattr, void *idmap, struct dentry *dentry, const char *name, const void *value, size_t size,
	     int flags, int ret)
{
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_XATTR, false);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(inode_removexattr, void *idmap, struct dentry *dentry, const char *name, int ret)
{
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_XATTR, false);
}

/* POSIX ACLs: through setxattr before Linux 6.2, through these hooks since (loaded where they exist). */
SEC("lsm/inode_set_acl")
int BPF_PROG(inode_set_acl, void *idmap, struct dentry *dentry, const char *acl_name, struct posix_acl *kacl, int ret)
{
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_XATTR, false);
}

SEC("lsm/inode_remove_acl")
int BPF_PROG(inode_remove_acl, void *idmap, struct dentry *dentry, const char *acl_name, int ret)
{
	if (ret)
		return ret;
	return bf_entry_decide(dentry, BF_ACCESS_WRITE, BF_OP_XATTR, false);
}

/*
 * ioctls that change a file through a descriptor opened for reading: its flags (chattr +i, +a),
 * its fsxattr, and enabling fs-verity (which makes it read-only for good). Every other ioctl costs
 * three compares.
 */
#define BF_FS_IOC_SETFLAGS 0x40086602
#define BF_FS_IOC_FSSETXATTR 0x401c5820
#define BF_FS_IOC_ENABLE_VERITY 0x40806685
#define BF_FS_IOC32_SETFLAGS 0x40046602 /* from 32-bit programs */

/* with_path: the hook may build paths for the event (bpf_d_path is allowed in some hooks only). */
static __always_inline int bf_ioctl_decide(struct file *file, unsigned int cmd, bool with_path)
{
	if (cmd != BF_FS_IOC_SETFLAGS && cmd != BF_FS_IOC_FSSETXATTR && cmd != BF_FS_IOC_ENABLE_VERITY &&
	    cmd != BF_FS_IOC32_SETFLAGS)
		return 0;
	return bf_open_decide(file, BF_ACCESS_WRITE, BF_OP_IOCTL, with_path, cmd);
}

SEC("lsm/file_ioctl")
int BPF_PROG(file_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	if (ret)
		return ret;
	return bf_ioctl_decide(file, cmd, true);
}

/* ioctls of 32-bit programs, where the kernel has this hook (6.8, and stable kernels since). */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(file_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	if (ret)
		return ret;
	return bf_ioctl_decide(file, cmd, false);
}

/* A dentry gets its inode (a new entry, or one looked up): below a protected directory, it takes the rule. */
SEC("lsm/d_instantiate")
void BPF_PROG(d_instantiate, struct dentry *dentry, struct inode *inode)
{
	bf_tree_instantiate(dentry, inode);
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
	return bf_open_decide(file, bf_access_of(file), BF_OP_RECEIVE, true, 0);
}

SEC("lsm/bprm_creds_for_exec")
int BPF_PROG(bprm_creds_for_exec, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	ret = bf_fileless_decide(bprm);
	if (ret)
		return ret;
	return bf_exec_begin();
}

/*
 * Where an exec's identity is decided: once per exec, with the final file (for a script, its
 * interpreter), just before the point of no return (what follows can only kill the task). file is
 * where the new credentials come from: bprm->file, except for binfmt_misc's credential flag.
 * Two variants, one loaded: with the kernel's fs-verity digest (Linux 6.8+) or without.
 */
static __always_inline int bf_creds_from_file(struct linux_binprm *bprm, struct file *file, bool kernel_measures)
{
	struct file *exe = bprm->file;
	struct bf_exec_decision d = {};
	if (!bf_exec_identity(exe, exe == file ? file : NULL, kernel_measures, &d))
		return 0;
	int ret = bf_runtime_exec_decide(bprm, &d);
	if (ret)
		return ret;
	bf_exec_apply(&d);
	return 0;
}

SEC("lsm/bprm_creds_from_file")
int BPF_PROG(bprm_creds_from_file, struct linux_binprm *bprm, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_creds_from_file(bprm, file, false);
}

SEC("lsm/bprm_creds_from_file")
int BPF_PROG(bprm_creds_from_file_verity, struct linux_binprm *bprm, struct file *file, int ret)
{
	if (ret)
		return ret;
	return bf_creds_from_file(bprm, file, true);
}

/* Once per handler of an exec (a script, then its interpreter). */
SEC("lsm/bprm_check_security")
int BPF_PROG(bprm_check_security, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	bf_agent_secure_exec(bprm);
	return 0;
}

SEC("lsm/bprm_committing_creds")
void BPF_PROG(bprm_committing_creds, struct linux_binprm *bprm)
{
	bf_agent_exec_commit(bprm);
	bf_runtime_env_decide(bprm);
}

SEC("lsm/task_kill")
int BPF_PROG(task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig, const struct cred *cred, int ret)
{
	if (ret)
		return ret;
	return bf_signal_decide(p, sig);
}

SEC("lsm/file_send_sigiotask")
int BPF_PROG(file_send_sigiotask, struct task_struct *tsk, struct fown_struct *fown, int sig, int ret)
{
	if (ret)
		return ret;
	return bf_sigio_decide(tsk, sig);
}

SEC("lsm/task_setrlimit")
int BPF_PROG(task_setrlimit, struct task_struct *p, unsigned int resource, struct rlimit *new_rlim, int ret)
{
	if (ret)
		return ret;
	return bf_agent_guard_task(p, BF_OP_RLIMIT, resource);
}

/* ptrace attach and seize, process_vm_readv/writev, /proc/PID/mem and the like, pidfd_getfd. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret)
		return ret;
	ret = bf_agent_guard_task(child, BF_OP_PTRACE, mode);
	if (ret)
		return ret;
	return bf_runtime_ptrace_decide(child, mode);
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(ptrace_traceme, struct task_struct *parent, int ret)
{
	if (ret)
		return ret;
	ret = bf_traceme_decide();
	if (ret)
		return ret;
	return bf_runtime_traceme_decide();
}

/*
 * Every bpf() command. Only the first two arguments are read: newer kernels added a third before
 * the previous return value, and CO-RE does not relocate hook arguments.
 */
SEC("lsm/bpf")
int BPF_PROG(bpf, int cmd, union bpf_attr *attr)
{
	return bf_bpf_decide(cmd, attr);
}

SEC("lsm/bpf_map")
int BPF_PROG(bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	if (ret)
		return ret;
	return bf_bpf_object_decide(BF_OBJECT_MAP, map->id);
}

SEC("lsm/bpf_prog")
int BPF_PROG(bpf_prog, struct bpf_prog *prog, int ret)
{
	if (ret)
		return ret;
	return bf_bpf_object_decide(BF_OBJECT_PROG, prog->aux->id);
}

SEC("lsm/sb_umount")
int BPF_PROG(sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	if (ret)
		return ret;
	return bf_umount_decide(mnt);
}

/* Every read and write: only writes to cgroup and proc files go further than two compares. */
SEC("lsm/file_permission")
int BPF_PROG(file_permission, struct file *file, int mask, int ret)
{
	if (ret)
		return ret;
	return bf_write_decide(file, mask);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_attach_task, struct cgroup *dst_cgrp, const char *path, struct task_struct *task, bool threadgroup)
{
	bf_agent_moved(dst_cgrp, task);
	return 0;
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

/* connect(2), io_uring connect, TCP_FASTOPEN_CONNECT's connect. */
SEC("lsm/socket_connect")
int BPF_PROG(socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	return bf_connect_decide(sock, address, addrlen);
}

/* sendto, sendmsg, sendmmsg (each message), io_uring send: those with an address are decided. */
SEC("lsm/socket_sendmsg")
int BPF_PROG(socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	if (ret)
		return ret;
	return bf_sendmsg_decide(sock, msg);
}

SEC("lsm/socket_create")
int BPF_PROG(socket_create, int family, int type, int protocol, int kern, int ret)
{
	if (ret)
		return ret;
	return bf_socket_decide(family, type, protocol, kern);
}
