/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/* Every map of the agent. Names carry the bf_ prefix and a layout version suffix. */
#ifndef BF_MAPS_BPF_H
#define BF_MAPS_BPF_H

#include "bomfather.h"

/* Upper bounds; the policy compiler refuses policies that would not fit. */
#define BF_MAX_FILES 65536
#define BF_MAX_GRANTS 65536
#define BF_MAX_EXES 16384

/* Protected inodes -> the rule protecting them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_FILES);
	__type(key, struct bf_inode_key);
	__type(value, struct bf_file_rule);
} bf_files_v1 SEC(".maps");

/* (rule, executable inode) -> the access the executable is granted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_GRANTS);
	__type(key, struct bf_grant_key);
	__type(value, struct bf_grant);
} bf_file_grants_v1 SEC(".maps");

/* Executables the policy names, by inode. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BF_MAX_EXES);
	__type(key, struct bf_inode_key);
	__type(value, struct bf_exe);
} bf_exes_v1 SEC(".maps");

/*
 * The identity a task acts as when it inherited it: the inode of the named executable that
 * started it (directly or through other programs). No entry: the task is its own executable.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bf_inode_key);
} bf_tasks_v1 SEC(".maps");

/* Decisions worth reporting, read by the agent. Enforcement never depends on it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} bf_events_v2 SEC(".maps");

/* Counters indexed by enum bf_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bf_stats_v1 SEC(".maps");

static __always_inline void bf_count(enum bf_stat stat)
{
	__u32 key = stat;
	__u64 *n = bpf_map_lookup_elem(&bf_stats_v1, &key);
	if (n)
		*n += 1;
}

/*
 * Reserve an event and fill what every event carries; the caller adds exe and target and
 * submits it. NULL (counted) when the ring buffer is full.
 */
static __always_inline struct bf_event *bf_event_begin(__u32 kind, __u32 verdict, __u32 rule_id,
							__u32 access, __u32 op)
{
	struct bf_event *e = bpf_ringbuf_reserve(&bf_events_v2, sizeof(*e), 0);
	if (!e) {
		bf_count(BF_STAT_RINGBUF_FULL);
		return NULL;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->verdict = verdict;
	e->rule_id = rule_id;
	e->access = access;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->op = op;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->exe[0] = 0;
	e->target[0] = 0;
	return e;
}

#endif /* BF_MAPS_BPF_H */
