// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest useful LSM program. `bomfather doctor` and `run` load and attach it, open a
 * file, and check that the hook really ran for that process: a `bpf` entry in the lsm list
 * is not proof (the program attaches but never runs when bpf is not in lsm=), and a load
 * can fail for reasons the lsm list does not show.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* [0]: the thread group to watch, written by user space; [1]: opens seen from it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(probe_file_open, struct file *file, int ret)
{
	__u32 watch = 0, seen = 1;
	__u64 *tgid = bpf_map_lookup_elem(&probe_hits, &watch);
	__u64 *hits = bpf_map_lookup_elem(&probe_hits, &seen);
	if (tgid && hits && *tgid == bpf_get_current_pid_tgid() >> 32)
		__sync_fetch_and_add(hits, 1);
	return ret;
}
