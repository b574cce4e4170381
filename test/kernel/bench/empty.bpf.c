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
EMPTY(inode_setattr)
EMPTY(inode_unlink)
EMPTY(inode_rename)
EMPTY(inode_free_security)
EMPTY(file_receive)
EMPTY(bprm_creds_for_exec)
EMPTY(task_alloc)
EMPTY(task_prctl)
