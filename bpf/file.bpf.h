/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Where an operation on a protected file is decided: opening it, changing its attributes
 * (truncate, chmod, chown, utimes), unlinking or renaming it, receiving a descriptor of it.
 *
 * Identity is by inode, never by path string: the file's inode must be in the files map of the generation in force, and
 * the task's identity (inherit.bpf.h) must hold a grant for that rule covering the access.
 * One hash lookup for a file nobody protects; strings are built only when an event is logged.
 */
#ifndef BF_FILE_BPF_H
#define BF_FILE_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"
#include "tree.bpf.h"

/* From include/linux/fs.h (macros do not reach BTF). */
#define BF_FMODE_READ 0x1
#define BF_FMODE_WRITE 0x2

static __always_inline __u32 bf_access_of(struct file *file)
{
	__u32 fmode = file->f_mode, access = 0;
	if (fmode & BF_FMODE_READ)
		access |= BF_ACCESS_READ;
	if (fmode & BF_FMODE_WRITE)
		access |= BF_ACCESS_WRITE;
	return access;
}

static __always_inline void bf_report_file(__u32 generation, const struct path *path, struct file *exe,
					   const struct bf_file_rule *rule, __u32 access,
					   __u32 op, __u32 arg, __u32 verdict, __u32 identity)
{
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_FILE, verdict, rule->rule_id, access, op);
	if (!e)
		return;
	e->arg = arg;
	e->identity = identity;
	/*
	 * bpf_d_path is allowed only in some hooks: those that hand a path (file_open, file_receive).
	 * Elsewhere the executable's file name is sent, and user space completes it.
	 */
	if (path) {
		if (exe)
			bpf_d_path((struct path *)&exe->f_path, e->exe, sizeof(e->exe));
		bpf_d_path((struct path *)path, e->target, sizeof(e->target));
	} else if (exe) {
		const unsigned char *name = BPF_CORE_READ(exe, f_path.dentry, d_name.name);
		if (name)
			bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), name);
	}
	bpf_ringbuf_submit(e, 0);
}

/* Does the policy ask for granted uses of protected files to be reported? */
static __always_inline bool bf_report_allowed(void)
{
	__u32 zero = 0;
	struct bf_agent *cfg = bpf_map_lookup_elem(&bf_agent_v1, &zero);
	return cfg && (cfg->flags & BF_AGENT_REPORT_ALLOW);
}

/*
 * May the current task perform op, needing access, on inode? 0 or -EPERM. where: a dentry of
 * it, to look for a protected directory above it while the trees wait for the agent (tree.bpf.h).
 * path is where the file was reached, for the event; NULL when the hook cannot build paths (the
 * agent then reports the rule's path). arg: what the event's op says it carries. fixed: the op
 * removes, renames or replaces the entry, which nobody may do to a directory a rule names.
 */
static __always_inline int bf_file_decide_at(struct inode *inode, struct dentry *where, __u32 access, __u32 op,
					     const struct path *path, __u32 arg, bool fixed)
{
	if (!inode)
		return 0; /* a negative dentry: nothing there yet */
	__u32 slot, generation;
	struct bf_state *st = bf_state_in_force(&slot, &generation);
	if (!st)
		return 0;
	void *files = bf_policy_map(&bf_files_gen_v2, slot);
	if (!files)
		return 0;
	struct bf_inode_key key = {};
	bf_inode_of(inode, &key.dev, &key.ino);
	struct bf_file_rule found = {};
	struct bf_file_rule *held = bpf_map_lookup_elem(files, &key);
	/*
	 * Not labelled: below a protected directory only if the policy in force has one and changes
	 * below one wait for the agent (tree.bpf.h); a policy without directories pays one load.
	 */
	if (held)
		found = *held;
	else if (!where || !(st->trees & (1U << slot)) || !bf_trees_pending() || !bf_tree_find(slot, files, where, &key, &found))
		return 0;
	struct bf_file_rule *rule = &found;
	if (!(rule->guards & access))
		return 0;
	/* Nobody's grant removes, renames or replaces a directory a rule names. */
	bool anyone = !(fixed && (rule->flags & BF_FILE_ROOT));

	/* Kernel threads have no identity and hold no grant. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_inode_key id = {};
	bool known = bf_current_identity(task, &id);
	if (known && anyone) {
		struct bf_grant_key gk = { .rule_id = rule->rule_id, .dev = id.dev, .ino = id.ino };
		void *grants = bf_policy_map(&bf_grants_gen_v1, slot);
		struct bf_grant *grant = grants ? bpf_map_lookup_elem(grants, &gk) : NULL;
		if (grant && (grant->access & access) == access) {
			if (bf_report_allowed()) {
				struct mm_struct *mm = task->mm;
				bf_report_file(generation, path, mm ? mm->exe_file : NULL, rule, access, op, arg, BF_VERDICT_ALLOW,
					       bf_identity_rule(slot, true, &id));
			}
			return 0;
		}
	}

	/*
	 * Walked as BTF pointers (as everywhere here), which is also what lets bpf_d_path accept
	 * exe's path in the event.
	 */
	struct mm_struct *mm = task->mm;
	struct file *exe = mm ? mm->exe_file : NULL;

	__u32 identity = bf_identity_rule(slot, known, &id);
	if (rule->mode == BF_MODE_MONITOR) {
		bf_count(BF_STAT_MONITORED);
		bf_report_file(generation, path, exe, rule, access, op, arg, BF_VERDICT_MONITOR, identity);
		return 0;
	}
	bf_count(BF_STAT_DENIED);
	bf_report_file(generation, path, exe, rule, access, op, arg, BF_VERDICT_DENY, identity);
	return -EPERM;
}

/* The inode of a dentry, decided with the dentry. */
static __always_inline int bf_entry_decide(struct dentry *dentry, __u32 access, __u32 op, bool fixed)
{
	return bf_file_decide_at(dentry->d_inode, dentry, access, op, NULL, 0, fixed);
}

/* An opened file: its inode (for a stacked file system, the file's own), reached at its path. */
static __always_inline int bf_open_decide(struct file *file, __u32 access, __u32 op, bool with_path, __u32 arg)
{
	return bf_file_decide_at(file->f_inode, file->f_path.dentry, access, op, with_path ? &file->f_path : NULL, arg, false);
}

/* The directory an entry is in: its parent dentry (the hooks that pass both hold the directory's lock). */
static __always_inline int bf_dir_decide(struct dentry *entry, __u32 op)
{
	return bf_entry_decide(entry->d_parent, BF_ACCESS_WRITE, op, false);
}

/*
 * A permitted rename that replaces a protected file moves its protection to the file that
 * takes its place: that is how editors and deploy tools update a file atomically (write a
 * temporary file, rename it over the original), and the file at the protected path must stay
 * protected. If the rename then fails, the temporary file stays protected too: more, not less.
 *
 * Both slots are updated, each with its own rule: a generation being applied carries the file
 * too, and the agent reconciles what a rename did while it built that generation.
 */
static __always_inline void bf_carry_in_slot(__u32 slot, struct bf_inode_key *old, struct bf_inode_key *next)
{
	void *files = bpf_map_lookup_elem(&bf_files_gen_v2, &slot);
	if (!files)
		return;
	struct bf_file_rule *rule = bpf_map_lookup_elem(files, old);
	if (!rule)
		return;
	struct bf_file_rule copy = *rule;
	if (bpf_map_update_elem(files, next, &copy, BPF_NOEXIST) && !bpf_map_lookup_elem(files, next))
		bf_count(BF_STAT_PROTECTION_NOT_CARRIED);
}

static __always_inline void bf_rename_carry_protection(struct inode *source, struct inode *replaced)
{
	if (!source || !replaced)
		return;
	struct bf_inode_key old = {}, next = {};
	bf_inode_of(replaced, &old.dev, &old.ino);
	bf_inode_of(source, &next.dev, &next.ino);
	bf_carry_in_slot(0, &old, &next);
	bf_carry_in_slot(1, &old, &next);
}

/*
 * A protected file or named executable whose inode is gone for good (no link left, last reference
 * dropped) leaves the maps of both slots, so that a new file that gets the same inode number later
 * is neither protected nor trusted by mistake. An inode merely evicted from the cache still has links and keeps its entry.
 */
static __always_inline void bf_forget_in_slot(__u32 slot, struct bf_inode_key *key)
{
	void *files = bpf_map_lookup_elem(&bf_files_gen_v2, &slot);
	if (files)
		bpf_map_delete_elem(files, key);
	void *exes = bpf_map_lookup_elem(&bf_exes_gen_v2, &slot);
	if (exes)
		bpf_map_delete_elem(exes, key);
}

static __always_inline void bf_inode_gone(struct inode *inode)
{
	if (inode->i_nlink != 0)
		return;
	struct bf_inode_key key = {};
	bf_inode_of(inode, &key.dev, &key.ino);
	bf_forget_in_slot(0, &key);
	bf_forget_in_slot(1, &key);
}

#endif /* BF_FILE_BPF_H */
