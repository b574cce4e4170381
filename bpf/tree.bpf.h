/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Protected directories: a rule on a directory covers everything below it, by inode.
 *
 * The agent labels every inode below the directory when it applies a generation (each gets the
 * rule, flagged BF_FILE_TREE), so deciding an open inside a tree costs what deciding a protected
 * file costs: one hash lookup, whatever the depth. What appears later takes its parent's label
 * here: a new entry when its dentry is instantiated (create, mkdir, mknod, symlink, O_TMPFILE, and
 * a lookup of an inode the labels missed), a hard link, a rename into the tree.
 *
 * Two changes bring in more than one inode: a directory moved in from elsewhere and a file system
 * mounted in. They are counted in bf_trees_v1; until the agent has walked the trees again into a new
 * generation, a file that has no label is looked for under its parents (bf_tree_find).
 */
#ifndef BF_TREE_BPF_H
#define BF_TREE_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"

/* S_IFMT and S_IFDIR, from include/uapi/linux/stat.h (macros do not reach BTF). */
#define BF_S_IFMT 00170000
#define BF_S_IFDIR 0040000

/* Parents looked at by bf_tree_find: deeper than any path the kernel resolves in one call. */
#define BF_TREE_DEPTH 4096

static __always_inline bool bf_trees_pending(void)
{
	__u32 moved_key = BF_TREES_MOVED, settled_key = BF_TREES_SETTLED;
	__u64 *moved = bpf_map_lookup_elem(&bf_trees_v1, &moved_key);
	__u64 *settled = bpf_map_lookup_elem(&bf_trees_v1, &settled_key);
	return moved && settled && *moved != *settled;
}

static __always_inline void bf_trees_changed(void)
{
	__u32 key = BF_TREES_MOVED;
	__u64 *moved = bpf_map_lookup_elem(&bf_trees_v1, &key);
	if (moved)
		__sync_fetch_and_add(moved, 1);
}

/*
 * In one slot: give child the tree rule of directory parent, if parent is in a tree. A child that
 * has a rule keeps it, unless relabel and that rule is another tree's label (a file moved from one
 * protected directory to another takes the rule of where it now is; a file or directory a rule
 * names keeps its rule wherever it goes). True when the child's label changed.
 */
static __always_inline bool bf_label_in_slot(__u32 slot, struct bf_inode_key *parent, struct bf_inode_key *child,
					     bool relabel)
{
	void *files = bpf_map_lookup_elem(&bf_files_gen_v2, &slot);
	if (!files)
		return false;
	struct bf_file_rule *p = bpf_map_lookup_elem(files, parent);
	if (!p || !(p->flags & BF_FILE_TREE))
		return false;
	struct bf_file_rule label = { .rule_id = p->rule_id, .mode = p->mode, .guards = p->guards, .flags = BF_FILE_TREE };
	struct bf_file_rule *c = bpf_map_lookup_elem(files, child);
	if (c && (!relabel || c->flags != BF_FILE_TREE || c->rule_id == label.rule_id))
		return false;
	if (bpf_map_update_elem(files, child, &label, c ? BPF_EXIST : BPF_NOEXIST)) {
		if (!bpf_map_lookup_elem(files, child))
			bf_count(BF_STAT_PROTECTION_NOT_CARRIED);
		return false;
	}
	return true;
}

/* Both slots: a generation being applied is labelled too (see file.bpf.h bf_carry_in_slot). */
static __always_inline bool bf_label(struct inode *dir, struct inode *inode, bool relabel)
{
	if (!dir || !inode)
		return false;
	struct bf_inode_key parent = {}, child = {};
	bf_inode_of(dir, &parent.dev, &parent.ino);
	bf_inode_of(inode, &child.dev, &child.ino);
	bool changed = bf_label_in_slot(0, &parent, &child, relabel);
	changed |= bf_label_in_slot(1, &parent, &child, relabel);
	return changed;
}

/* A dentry got its inode: a new entry, or one looked up. Pipes and sockets have no parent. */
static __always_inline void bf_tree_instantiate(struct dentry *dentry, struct inode *inode)
{
	struct dentry *parent = dentry->d_parent;
	if (!inode || !parent || parent == dentry)
		return;
	bf_label(parent->d_inode, inode, false);
}

/* A permitted rename put inode under new_dir. A directory brings what is below it: counted. */
static __always_inline void bf_tree_moved(struct inode *new_dir, struct inode *inode)
{
	if (!inode)
		return;
	if (bf_label(new_dir, inode, true) && (inode->i_mode & BF_S_IFMT) == BF_S_IFDIR)
		bf_trees_changed();
}

/* A permitted mount on a directory in a tree: what the mount shows is not labelled yet. */
static __always_inline void bf_tree_mounted(struct inode *inode)
{
	__u32 slot, generation;
	if (!inode || !bf_in_force(&slot, &generation))
		return;
	void *files = bpf_map_lookup_elem(&bf_files_gen_v2, &slot);
	if (!files)
		return;
	struct bf_inode_key key = {};
	bf_inode_of(inode, &key.dev, &key.ino);
	struct bf_file_rule *rule = bpf_map_lookup_elem(files, &key);
	if (rule && (rule->flags & BF_FILE_TREE))
		bf_trees_changed();
}

struct bf_tree_walk {
	__u64 dentry; /* the dentry whose parent is looked at next */
	__u32 slot;
	bool found;
	struct bf_file_rule rule;
};

static long bf_tree_step(__u32 i, struct bf_tree_walk *w)
{
	struct dentry *d = (struct dentry *)w->dentry;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d)
		return 1; /* the root of its file system */
	w->dentry = (__u64)parent;
	struct inode *inode = BPF_CORE_READ(parent, d_inode);
	if (!inode)
		return 1;
	void *files = bpf_map_lookup_elem(&bf_files_gen_v2, &w->slot);
	if (!files)
		return 1;
	struct bf_inode_key key = {};
	key.ino = BPF_CORE_READ(inode, i_ino);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	struct bf_file_rule *rule = bpf_map_lookup_elem(files, &key);
	if (!rule)
		return 0;
	if (rule->flags & BF_FILE_TREE) {
		w->found = true;
		w->rule.rule_id = rule->rule_id;
		w->rule.mode = rule->mode;
		w->rule.guards = rule->guards;
		w->rule.flags = BF_FILE_TREE;
	}
	return 1; /* the nearest parent with a rule decides */
}

/*
 * While changes wait for the agent (bf_trees_pending): is the inode at dentry, which has no rule in
 * files, below a protected directory? Then it takes that rule (labelled now: asked once) in *out.
 */
static __always_inline bool bf_tree_find(__u32 slot, void *files, struct dentry *dentry, struct bf_inode_key *key,
					 struct bf_file_rule *out)
{
	struct bf_tree_walk w = { .dentry = (__u64)dentry, .slot = slot };
	bpf_loop(BF_TREE_DEPTH, bf_tree_step, &w, 0);
	if (!w.found)
		return false;
	*out = w.rule;
	bpf_map_update_elem(files, key, &w.rule, BPF_NOEXIST);
	return true;
}

#endif /* BF_TREE_BPF_H */
