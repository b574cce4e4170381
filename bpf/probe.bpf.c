// SPDX-License-Identifier: GPL-2.0
/*
 * The smallest useful LSM program, loaded by `doctor` and `run` before the agent's own:
 * - it proves that this kernel really runs BPF LSM programs: a `bpf` entry in the lsm list is
 *   not proof (the program attaches but never runs when bpf is not in lsm=);
 * - it reports how the kernel names the inode of each file the agent opens, so the policy is
 *   compiled to the kernel's own (s_dev, i_ino) and not to stat(2)'s, which differ on btrfs
 *   subvolumes and some stacked filesystems;
 * - it counts the files one open presents: a stacked file system (overlayfs) presents its own file,
 *   then the file of the layer below it. The first is the one every hook on that path sees.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

enum probe_slot {
	PROBE_TGID = 0,     /* the thread group to watch, written by user space */
	PROBE_HITS = 1,     /* opens seen from it */
	PROBE_INO = 2,      /* inode->i_ino of the first open of the naming thread since PROBE_DEV was cleared */
	PROBE_DEV = 3,      /* its inode->i_sb->s_dev (never 0: user space clears it to 0 before each open) */
	PROBE_TID = 4,      /* the naming thread, written by user space */
	PROBE_TID_HITS = 5, /* opens seen from the naming thread */
	PROBE_SLOTS = 6,
};

/* Memory-mapped: user space reads a file's inode right after opening it, with no bpf() call. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PROBE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} probe_slots SEC(".maps");

static __always_inline __u64 *slot(__u32 i)
{
	return bpf_map_lookup_elem(&probe_slots, &i);
}

SEC("lsm/file_open")
int BPF_PROG(probe_file_open, struct file *file, int ret)
{
	__u64 *tgid = slot(PROBE_TGID), *hits = slot(PROBE_HITS);
	__u64 *ino = slot(PROBE_INO), *dev = slot(PROBE_DEV);
	__u64 *tid = slot(PROBE_TID), *tid_hits = slot(PROBE_TID_HITS);
	__u64 id = bpf_get_current_pid_tgid();
	if (!tgid || !hits || !ino || !dev || !tid || !tid_hits || *tgid != id >> 32)
		return ret;
	__sync_fetch_and_add(hits, 1);
	if (*tid != (__u32)id)
		return ret;
	/* The outermost file first: a stacked file system's own, before its layer's. */
	if (!*dev) {
		*ino = file->f_inode->i_ino;
		*dev = file->f_inode->i_sb->s_dev;
	}
	__sync_fetch_and_add(tid_hits, 1);
	return ret;
}
