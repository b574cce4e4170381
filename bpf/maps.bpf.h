/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Every map of the agent. Names carry the bf_ prefix and a layout version suffix.
 *
 * Every map is pinned by name in the agent's bpffs directory (LIBBPF_PIN_BY_NAME): the kernel keeps
 * enforcing from the pins if the agent process dies, and the next start reuses the maps whose layout
 * it shares (same name, same version) while it loads and attaches its own programs.
 *
 * A policy is a generation: inner maps (files, grants, executables, and the network's destinations,
 * ports and confinements) that user space
 * creates and fills, puts in the inactive slot of the bf_*_gen outer maps, and then makes active
 * with one update of bf_state_v2. The programs read the slot once per decision.
 */
#ifndef BF_MAPS_BPF_H
#define BF_MAPS_BPF_H

#include "bomfather.h"

/*
 * Upper bounds of the inner maps of one generation; the compiler refuses policies that would not
 * fit. Inner maps are not preallocated, so an empty slot costs nothing. User space creates each
 * generation's inner maps with the parameters of these templates (the kernel requires them to match).
 * Their key and value are given by size: clang emits only a forward declaration of a struct seen
 * through the template's pointers, which libbpf cannot size.
 */
/* Protected inodes: files, and everything below protected directories. */
#define BF_MAX_FILES 262144
#define BF_MAX_GRANTS 65536
#define BF_MAX_EXES 16384
/* Address prefixes (CIDRs and the addresses host names resolve to), and port entries of prefixes. */
#define BF_MAX_DESTS 65536
#define BF_MAX_PORTS 65536
#define BF_MAX_CONFINED 16384

#define BF_PINNED __uint(pinning, LIBBPF_PIN_BY_NAME)

/* Which slot is in force, and which generation each slot holds. One entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bf_state);
	BF_PINNED;
} bf_state_v2 SEC(".maps");

/* Protected inodes -> the rule protecting them (per generation). */
struct bf_files_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_FILES);
	__uint(key_size, sizeof(struct bf_inode_key));
	__uint(value_size, sizeof(struct bf_file_rule));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_files_inner);
} bf_files_gen_v2 SEC(".maps");

/* (rule, executable inode) -> the access the executable is granted (per generation). */
struct bf_grants_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_GRANTS);
	__uint(key_size, sizeof(struct bf_grant_key));
	__uint(value_size, sizeof(struct bf_grant));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_grants_inner);
} bf_grants_gen_v1 SEC(".maps");

/* Executables the policy names, by inode (per generation). */
struct bf_exes_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_EXES);
	__uint(key_size, sizeof(struct bf_inode_key));
	__uint(value_size, sizeof(struct bf_exe));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_exes_inner);
} bf_exes_gen_v2 SEC(".maps");

/* Address prefixes -> the destination(s) there (per generation; longest prefix wins). */
struct bf_dests_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_DESTS);
	__uint(key_size, sizeof(struct bf_dest_key));
	__uint(value_size, sizeof(struct bf_dest));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_dests_inner);
} bf_dests_gen_v1 SEC(".maps");

/* (ports id, protocol, port prefix) -> the destination (per generation). */
struct bf_ports_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_PORTS);
	__uint(key_size, sizeof(struct bf_port_key));
	__uint(value_size, sizeof(struct bf_port_dest));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_ports_inner);
} bf_ports_gen_v1 SEC(".maps");

/* Confined executables, by inode -> their network.confine rule (per generation). */
struct bf_confined_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, BF_MAX_CONFINED);
	__uint(key_size, sizeof(struct bf_inode_key));
	__uint(value_size, sizeof(struct bf_confinement));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	BF_PINNED;
	__array(values, struct bf_confined_inner);
} bf_confined_gen_v1 SEC(".maps");

/* The network settings, per slot (written before the slot is put in force). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	__type(value, struct bf_net_policy);
	BF_PINNED;
} bf_net_v1 SEC(".maps");

/*
 * What the kernel remembers of a task: the named executable it acts as when it inherited one
 * (inherit.bpf.h), and whether it runs the agent's binary without being the agent (agent.bpf.h).
 * No entry: the task is its own executable.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bf_task);
	BF_PINNED;
} bf_tasks_v5 SEC(".maps");

/*
 * Where the kernel writes an executable's fs-verity digest at exec (bpf_get_fsverity_digest writes
 * only to map memory): per task, so that no other exec can change it between writing and comparing;
 * deleted once compared. struct fsverity_digest: __u16 algorithm, __u16 size, then the digest.
 */
struct bf_digest_buf {
	__u32 words[9];
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct bf_digest_buf);
	BF_PINNED;
} bf_verity_v1 SEC(".maps");

/* The variables runtime.environment refuses, per slot (written before the slot is put in force). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BF_SLOTS);
	__type(key, __u32);
	__type(value, struct bf_env_rules);
	BF_PINNED;
} bf_env_v1 SEC(".maps");

/* Changes below protected directories that wait for the agent to walk them (enum bf_trees_entry). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BF_TREES_MAX);
	__type(key, __u32);
	__type(value, __u64);
	BF_PINNED;
} bf_trees_v1 SEC(".maps");

/* Who the agent is (its binary) and what it guards besides its policy. One entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bf_agent);
	BF_PINNED;
} bf_agent_v1 SEC(".maps");

/* The agent's own maps, programs and links, by kernel id: bpf() hands their descriptors to it only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct bf_object_key);
	__type(value, __u32);
	BF_PINNED;
} bf_objects_v1 SEC(".maps");

/* Ids of the cgroups that hold (or held) the agent, and their ancestors. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u32);
	BF_PINNED;
} bf_agent_cgroups_v1 SEC(".maps");

/* Decisions worth reporting, read by the agent. Enforcement never depends on it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	BF_PINNED;
} bf_events_v5 SEC(".maps");

/* Counters indexed by enum bf_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BF_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	BF_PINNED;
} bf_stats_v2 SEC(".maps");

static __always_inline void bf_count(enum bf_stat stat)
{
	__u32 key = stat;
	__u64 *n = bpf_map_lookup_elem(&bf_stats_v2, &key);
	if (n)
		*n += 1;
}

/*
 * The slot in force and the generation it holds, and the state itself (NULL, counted, if it cannot
 * be read). A decision reads it once; the maps of the slot are then looked up one at a time, as the
 * decision needs them (a file nobody protects costs one hash lookup after three array lookups the
 * verifier inlines).
 */
static __always_inline struct bf_state *bf_state_in_force(__u32 *slot, __u32 *generation)
{
	__u32 zero = 0;
	struct bf_state *st = bpf_map_lookup_elem(&bf_state_v2, &zero);
	if (!st) {
		bf_count(BF_STAT_NO_POLICY);
		return NULL;
	}
	*slot = st->active & 1;
	*generation = *slot ? st->generation1 : st->generation0;
	return st;
}

static __always_inline bool bf_in_force(__u32 *slot, __u32 *generation)
{
	return bf_state_in_force(slot, generation) != NULL;
}

/* One of the slot's maps (outer: a bf_*_gen map); NULL (counted) for an empty slot, which apply never leaves in force. */
static __always_inline void *bf_policy_map(void *outer, __u32 slot)
{
	void *inner = bpf_map_lookup_elem(outer, &slot);
	if (!inner)
		bf_count(BF_STAT_NO_POLICY);
	return inner;
}

/*
 * Reserve an event and fill what every event carries; the caller adds exe and target and
 * submits it. NULL (counted) when the ring buffer is full.
 */
static __always_inline struct bf_event *bf_event_begin(__u32 generation, __u32 kind, __u32 verdict,
							__u32 rule_id, __u32 access, __u32 op)
{
	struct bf_event *e = bpf_ringbuf_reserve(&bf_events_v5, sizeof(*e), 0);
	if (!e) {
		bf_count(BF_STAT_RINGBUF_FULL);
		return NULL;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->generation = generation;
	e->kind = kind;
	e->verdict = verdict;
	e->rule_id = rule_id;
	e->access = access;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->op = op;
	e->arg = 0;
	e->target_pid = 0;
	e->identity = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->exe[0] = 0;
	e->target[0] = 0;
	return e;
}

/* The current task's executable by file name, in an event of a hook that cannot build paths (user space completes it). */
static __always_inline void bf_event_exe_name(struct bf_event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const unsigned char *name = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.name);
	if (name)
		bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), name);
}

#endif /* BF_MAPS_BPF_H */
