/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Executable identity cannot be borrowed: while the agent runs, no process may change the
 * executable the kernel records for it (mm->exe_file), which is what the agent knows a
 * program by. prctl(PR_SET_MM, PR_SET_MM_EXE_FILE or PR_SET_MM_MAP) is refused for everyone;
 * checkpoint/restore tools that need it cannot restore while the agent runs.
 */
#ifndef BF_IDENTITY_BPF_H
#define BF_IDENTITY_BPF_H

#include "maps.bpf.h"

/* From include/uapi/linux/prctl.h (macros do not reach BTF). */
#define BF_PR_SET_MM 35
#define BF_PR_SET_MM_EXE_FILE 13
#define BF_PR_SET_MM_MAP 14

static __always_inline void bf_report_identity(__u32 op)
{
	struct bf_event *e = bf_event_begin(0, BF_EVENT_IDENTITY, BF_VERDICT_DENY, BF_RULE_BUILTIN, 0, op);
	if (e)
		bpf_ringbuf_submit(e, 0);
}

static __always_inline int bf_prctl_decide(int option, unsigned long arg2)
{
	if (option != BF_PR_SET_MM || (arg2 != BF_PR_SET_MM_EXE_FILE && arg2 != BF_PR_SET_MM_MAP))
		return 0;
	bf_count(BF_STAT_DENIED);
	bf_report_identity(BF_OP_SET_EXE);
	return -EPERM;
}

#endif /* BF_IDENTITY_BPF_H */
