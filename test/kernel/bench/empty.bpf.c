// SPDX-License-Identifier: GPL-2.0
// Empty programs on every hook the agent attaches to (test/unit/bench-hooks.test.ts keeps the two
// lists equal): the floor the agent's cost is compared against. Each allows, as the agent does
// when no rule applies; none reads its arguments, so one shape serves every hook and kernel.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define EMPTY(hook)                                  \
	SEC("lsm/" #hook)                            \
	int empty_##hook(unsigned long long *ctx)    \
	{                                            \
		return 0;                            \
	}

EMPTY(file_open)
EMPTY(file_ioctl)
EMPTY(file_ioctl_compat)
EMPTY(inode_setattr)
EMPTY(inode_setxattr)
EMPTY(inode_removexattr)
EMPTY(inode_set_acl)
EMPTY(inode_remove_acl)
EMPTY(inode_unlink)
EMPTY(inode_rmdir)
EMPTY(inode_create)
EMPTY(inode_mkdir)
EMPTY(inode_mknod)
EMPTY(inode_symlink)
EMPTY(inode_link)
EMPTY(sb_mount)
EMPTY(move_mount)
EMPTY(inode_rename)
EMPTY(inode_free_security)
EMPTY(d_instantiate)
EMPTY(file_receive)
EMPTY(bprm_creds_for_exec)
EMPTY(bprm_creds_from_file)
EMPTY(bprm_check_security)
EMPTY(bprm_committing_creds)
EMPTY(task_kill)
EMPTY(file_send_sigiotask)
EMPTY(task_setrlimit)
EMPTY(ptrace_access_check)
EMPTY(ptrace_traceme)
EMPTY(bpf)
EMPTY(bpf_map)
EMPTY(bpf_prog)
EMPTY(sb_umount)
EMPTY(file_permission)
EMPTY(task_alloc)
EMPTY(task_prctl)
EMPTY(socket_create)
EMPTY(socket_connect)
EMPTY(socket_sendmsg)

SEC("tp_btf/cgroup_attach_task")
int empty_cgroup_attach_task(unsigned long long *ctx)
{
	return 0;
}
