/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * The single source of truth for every struct and enum that the kernel side and user
 * space share. Only fixed-width types, explicit padding and enums (enums reach BTF, so
 * the TypeScript codecs in src/abi.ts are tested against the compiled object's BTF).
 *
 * Change a layout: bump BF_ABI_VERSION and the _vN suffix of the maps that hold it.
 */
#ifndef BOMFATHER_H
#define BOMFATHER_H

enum bf_abi {
	BF_ABI_VERSION = 2,
	BF_PATH_MAX = 256, /* bytes of a path carried in an event, NUL included */
	BF_COMM_LEN = 16,
};

/* rule_id of events decided by a protection that is always on, not by a policy rule. */
enum bf_rule_builtin {
	BF_RULE_BUILTIN = 0x7fffffff, /* above any rule id: the maps hold far fewer rules */
};

/* What an event reports. */
enum bf_event_kind {
	BF_EVENT_FILE = 1,     /* an operation on a protected file was decided */
	BF_EVENT_IDENTITY = 2, /* an attempt to change what executable a process is */
};

/* The operation on a protected file that an event reports. */
enum bf_op {
	BF_OP_OPEN = 1,    /* open(2) and every other way of opening */
	BF_OP_SETATTR = 2, /* truncate, chmod, chown, utimes */
	BF_OP_UNLINK = 3,  /* unlink(2) */
	BF_OP_RENAME = 4,  /* rename(2), as source or as the file replaced */
	BF_OP_RECEIVE = 5, /* a descriptor received over a Unix socket or with pidfd_getfd */
	BF_OP_SET_EXE = 6, /* prctl(PR_SET_MM, PR_SET_MM_EXE_FILE or PR_SET_MM_MAP) */
};

/* What the kernel did about it. */
enum bf_verdict {
	BF_VERDICT_DENY = 1,  /* refused with EPERM */
	BF_VERDICT_AUDIT = 2, /* monitor mode: would have been refused, allowed */
};

/* Access bits of a file grant and of a file event. */
enum bf_access {
	BF_ACCESS_READ = 1,
	BF_ACCESS_WRITE = 2,
};

/* A rule's mode: enforce (deny and log) or monitor (log only). */
enum bf_mode {
	BF_MODE_ENFORCE = 0,
	BF_MODE_MONITOR = 1,
};

/* Flags of a named executable (value of bf_exes_v1). */
enum bf_exe_flag {
	BF_EXE_INHERIT = 1, /* programs it starts act with its grants */
};

/* Per-CPU counters of kernel-side failures and decisions (map bf_stats_v1). */
enum bf_stat {
	BF_STAT_DENIED = 0,       /* opens refused */
	BF_STAT_AUDITED = 1,      /* opens that monitor mode let through */
	BF_STAT_RINGBUF_FULL = 2, /* events lost because the ring buffer was full */
	BF_STAT_TASK_STORAGE_FAILED = 3, /* an inherited identity could not be stored (fails closed) */
	BF_STAT_PROTECTION_NOT_CARRIED = 4, /* a file renamed over a protected one could not be protected (map full) */
	BF_STAT_MAX = 5,
};

/* An inode as the kernel names it: super_block->s_dev (kernel encoding) and i_ino. */
struct bf_inode_key {
	__u64 ino; /* inode->i_ino */
	__u32 dev; /* inode->i_sb->s_dev, MAJOR << 20 | MINOR */
	__u32 pad; /* always 0 */
};

/* Value of bf_files_v1: the rule that protects an inode. */
struct bf_file_rule {
	__u32 rule_id; /* index into the agent's rule table (policy file:line) */
	__u32 mode;    /* enum bf_mode */
};

/* Value of bf_exes_v1 (keyed by the executable's inode): a named executable. */
struct bf_exe {
	__u32 flags; /* enum bf_exe_flag bits */
	__u32 pad;   /* always 0 */
};

/* Key of bf_file_grants_v1: may this executable inode open files of this rule? */
struct bf_grant_key {
	__u32 rule_id; /* the protecting rule */
	__u32 dev;     /* executable's inode: s_dev */
	__u64 ino;     /* executable's inode: i_ino */
};

/* Value of bf_file_grants_v1. */
struct bf_grant {
	__u32 access; /* enum bf_access bits this executable may use */
	__u32 pad;    /* always 0 */
};

/* One record in the ring buffer bf_events_v1. */
struct bf_event {
	__u64 boot_ns;          /* bpf_ktime_get_boot_ns() at the decision */
	__u32 kind;             /* enum bf_event_kind */
	__u32 verdict;          /* enum bf_verdict */
	__u32 rule_id;          /* the rule that decided; BF_RULE_BUILTIN for built-in protections */
	__u32 access;           /* enum bf_access bits requested */
	__u32 pid;              /* thread group id */
	__u32 tid;              /* thread id */
	__u32 uid;              /* real uid */
	__u32 op;               /* enum bf_op */
	char comm[BF_COMM_LEN]; /* task->comm */
	char exe[BF_PATH_MAX];  /* the executable, as d_path sees it */
	char target[BF_PATH_MAX]; /* the file, as d_path sees it; empty when the hook has no path */
};

#endif /* BOMFATHER_H */
