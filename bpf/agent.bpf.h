/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Self-protection: nobody but the agent stops, pauses, traces or rewires the agent, root included.
 *
 * The agent is known by what the kernel records for a task, never by a pid: a task whose
 * executable is the agent's binary (bf_agent_v1.exe) and that did not start unsafely. Starting the
 * binary traced, or with a BUN_ or NODE_ variable (Bun reads BUN_OPTIONS, which can preload code),
 * marks the task BF_TASK_UNTRUSTED at exec: it then runs as an ordinary program, with no right of
 * the agent's. Loader variables are ignored because its exec is forced into secure mode.
 *
 * What is guarded here (the agent's files and directories are rules of every generation, decided in
 * file.bpf.h; signals and the like are decided here):
 * - signals that stop, pause or kill it, to any of its threads, by kill, tkill, tgkill,
 *   pidfd_send_signal, kill(-1) or a process group, and through F_SETOWN/F_SETSIG;
 * - resource limits set on it (setrlimit, prlimit);
 * - ptrace, process_vm_readv/writev, /proc/PID/mem and pidfd_getfd on it, and tracing it from birth;
 * - bpf(): file descriptors of its maps and programs (by id or from a pin) and of its links (by id);
 * - unmounting the bpffs that holds its pins or the file system that holds its state;
 * - writes to cgroup files that kill, freeze or starve a cgroup holding it, to its oom_score_adj,
 *   and to /proc/sysrq-trigger.
 * In monitor mode (bf_agent_v1.flags) every such attempt is logged and none is refused.
 */
#ifndef BF_AGENT_BPF_H
#define BF_AGENT_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"
#include "runtime.bpf.h"

/* From include/uapi/asm-generic/signal.h, security.h, magic.h, fs.h (macros do not reach BTF). */
#define BF_SIGCHLD 17
#define BF_SIGCONT 18
#define BF_SIGURG 23
#define BF_SIGWINCH 28
#define BF_CGROUP2_SUPER_MAGIC 0x63677270
#define BF_PROC_SUPER_MAGIC 0x9fa0
#define BF_MAY_WRITE 2
#define BF_BPF_PROG_GET_FD_BY_ID 13
#define BF_BPF_MAP_GET_FD_BY_ID 14
#define BF_BPF_LINK_GET_FD_BY_ID 30

static __always_inline struct bf_agent *bf_agent_config(void)
{
	__u32 zero = 0;
	struct bf_agent *cfg = bpf_map_lookup_elem(&bf_agent_v1, &zero);
	return cfg && cfg->exe.ino ? cfg : NULL;
}

/* Does task run the executable whose inode is key? */
static __always_inline bool bf_runs(struct task_struct *task, struct bf_inode_key *key)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	if (!mm || !key->ino)
		return false;
	struct inode *inode = BPF_CORE_READ(mm, exe_file, f_inode);
	if (!inode)
		return false;
	return BPF_CORE_READ(inode, i_ino) == key->ino && BPF_CORE_READ(inode, i_sb, s_dev) == key->dev;
}

/* Does task run the agent's binary? */
static __always_inline bool bf_runs_agent_binary(struct task_struct *task, struct bf_agent *cfg)
{
	return bf_runs(task, &cfg->exe);
}

/* Is task the agent? (cfg: the agent's configuration, never NULL here.) */
static __always_inline bool bf_is_agent_task(struct task_struct *task, struct bf_agent *cfg)
{
	if (!bf_runs_agent_binary(task, cfg))
		return false;
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0);
	return !(t && (t->flags & BF_TASK_UNTRUSTED));
}

/*
 * Report an attempt on the agent and decide it: -EPERM, or 0 in monitor mode. The event names the
 * process that tried by pid and comm, and its executable by file name (user space completes it).
 */
static __always_inline int bf_agent_refuse(struct bf_agent *cfg, __u32 op, __u32 arg, struct task_struct *target)
{
	bool monitor = cfg->flags & BF_AGENT_MONITOR;
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(0, BF_EVENT_AGENT, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY, BF_RULE_BUILTIN, 0, op);
	if (e) {
		e->arg = arg;
		e->target_pid = target ? BPF_CORE_READ(target, tgid) : 0;
		bf_event_exe_name(e);
		bpf_ringbuf_submit(e, 0);
	}
	return monitor ? 0 : -EPERM;
}

/*
 * An operation by the current task on target: refused unless the current task is the agent (its
 * threads signal and inspect each other) or target is not the agent.
 */
static __always_inline int bf_agent_guard_task(struct task_struct *target, __u32 op, __u32 arg)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || !bf_is_agent_task(target, cfg))
		return 0;
	if (bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	return bf_agent_refuse(cfg, op, arg, target);
}

/* Signals that neither stop, pause nor end a process; anyone may send them. */
static __always_inline bool bf_harmless_signal(int sig)
{
	return sig == 0 || sig == BF_SIGCHLD || sig == BF_SIGCONT || sig == BF_SIGURG || sig == BF_SIGWINCH;
}

/*
 * Signals to the agent. The one exception: the last stage of a system shutdown, systemd-shutdown
 * running as PID 1, which nobody starts but a shutdown; the agent then exits and leaves its pinned
 * programs to enforce until the kernel stops, so that a reboot does not wait for it.
 */
static __always_inline int bf_signal_decide(struct task_struct *target, int sig)
{
	if (bf_harmless_signal(sig))
		return 0;
	struct bf_agent *cfg = bf_agent_config();
	if (cfg && bpf_get_current_pid_tgid() >> 32 == 1 && bf_runs(bpf_get_current_task_btf(), &cfg->shutdown))
		return 0;
	return bf_agent_guard_task(target, BF_OP_SIGNAL, sig);
}

/* F_SETOWN/F_SETSIG delivery: the agent never asks for it, so none reaches it. */
static __always_inline int bf_sigio_decide(struct task_struct *target, int sig)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || !bf_is_agent_task(target, cfg))
		return 0;
	return bf_agent_refuse(cfg, BF_OP_SIGIO, sig, target);
}

/* A tracer-to-be: the current task asks to be traced by parent. The agent never is. */
static __always_inline int bf_traceme_decide(void)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || !bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	return bf_agent_refuse(cfg, BF_OP_PTRACE, 0, bpf_get_current_task_btf());
}

/* Is this map, program or link one of the agent's? (bf_objects_v1, filled by the agent.) */
static __always_inline bool bf_own_object(__u32 kind, __u32 id)
{
	struct bf_object_key key = { .kind = kind, .id = id };
	return bpf_map_lookup_elem(&bf_objects_v1, &key) != NULL;
}

/* bpf(): file descriptors of the agent's objects by id. Everything else is left to the kernel. */
static __always_inline int bf_bpf_decide(int cmd, union bpf_attr *attr)
{
	__u32 kind, id;
	if (cmd == BF_BPF_MAP_GET_FD_BY_ID) {
		kind = BF_OBJECT_MAP;
		id = attr->map_id;
	} else if (cmd == BF_BPF_PROG_GET_FD_BY_ID) {
		kind = BF_OBJECT_PROG;
		id = attr->prog_id;
	} else if (cmd == BF_BPF_LINK_GET_FD_BY_ID) {
		kind = BF_OBJECT_LINK;
		id = attr->link_id;
	} else {
		return 0;
	}
	if (!bf_own_object(kind, id))
		return 0;
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	return bf_agent_refuse(cfg, BF_OP_BPF, cmd, NULL);
}

/* A file descriptor made for an existing map or program (by id or from a pin). */
static __always_inline int bf_bpf_object_decide(__u32 kind, __u32 id)
{
	if (!bf_own_object(kind, id))
		return 0;
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	return bf_agent_refuse(cfg, BF_OP_BPF, kind, NULL);
}

/* Unmounting the file systems that hold the agent's pins or its state. */
static __always_inline int bf_umount_decide(struct vfsmount *mnt)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg)
		return 0;
	__u32 dev = BPF_CORE_READ(mnt, mnt_sb, s_dev);
	if (dev != cfg->pins_dev && dev != cfg->state_dev)
		return 0;
	if (bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	return bf_agent_refuse(cfg, BF_OP_UMOUNT, 0, NULL);
}

/* Do the first n bytes of name (a kernel string) equal lit (n includes the NUL)? */
static __always_inline bool bf_name_is(const char *name, const char *lit, int n)
{
	char buf[16] = {};
	if (n > (int)sizeof(buf))
		return false;
	if (bpf_probe_read_kernel_str(buf, sizeof(buf), name) != n)
		return false;
	for (int i = 0; i < n && i < (int)sizeof(buf); i++)
		if (buf[i] != lit[i])
			return false;
	return true;
}

/* A cgroup control file whose writing kills, freezes or starves the cgroup's processes. */
static __always_inline bool bf_cgroup_stopper(const char *name)
{
	return bf_name_is(name, "cgroup.kill", 12) || bf_name_is(name, "cgroup.freeze", 14) ||
	       bf_name_is(name, "memory.max", 11) || bf_name_is(name, "memory.high", 12) ||
	       bf_name_is(name, "pids.max", 9) || bf_name_is(name, "cpu.max", 8);
}

/* kernfs_node's parent is `parent` on 6.1 and 6.12, `__parent` from 6.15: CO-RE picks the field present. */
struct kernfs_node___parent {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline __u64 bf_kernfs_parent_id(struct kernfs_node *kn)
{
	struct kernfs_node *parent;
	if (bpf_core_field_exists(struct kernfs_node___parent, parent))
		parent = BPF_CORE_READ((struct kernfs_node___parent *)kn, parent);
	else
		parent = BPF_CORE_READ(kn, __parent);
	return parent ? BPF_CORE_READ(parent, id) : 0;
}

/* The task a /proc/PID/... inode belongs to. */
static __always_inline struct task_struct *bf_proc_task(struct inode *inode)
{
	struct proc_inode *pi = container_of(inode, struct proc_inode, vfs_inode);
	struct pid *pid = BPF_CORE_READ(pi, pid);
	if (!pid)
		return NULL;
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[PIDTYPE_PID].first);
	if (!first)
		return NULL;
	return container_of(first, struct task_struct, pid_links[PIDTYPE_PID]);
}

/*
 * A write (write, writev, pwrite, splice, io_uring...) to a file that would switch the agent off
 * without a signal: a cgroup file that kills, freezes or starves a cgroup holding the agent (checked
 * at write time: a descriptor opened before the agent moved there is no way around), the agent's
 * oom_score_adj, /proc/sysrq-trigger.
 */
static __always_inline int bf_write_decide(struct file *file, int mask)
{
	if (!(mask & BF_MAY_WRITE))
		return 0;
	struct inode *inode = file->f_inode;
	unsigned long magic = inode->i_sb->s_magic;
	if (magic != BF_CGROUP2_SUPER_MAGIC && magic != BF_PROC_SUPER_MAGIC)
		return 0;
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || bf_is_agent_task(bpf_get_current_task_btf(), cfg))
		return 0;
	struct dentry *dentry = file->f_path.dentry;
	const char *name = (const char *)BPF_CORE_READ(dentry, d_name.name);
	if (magic == BF_CGROUP2_SUPER_MAGIC) {
		if (!bf_cgroup_stopper(name))
			return 0;
		/* The file's kernfs node; its parent is the cgroup's directory, whose id is the cgroup id. */
		struct kernfs_node *kn = BPF_CORE_READ(inode, i_private);
		__u64 cgroup = bf_kernfs_parent_id(kn);
		if (!bpf_map_lookup_elem(&bf_agent_cgroups_v1, &cgroup))
			return 0;
		return bf_agent_refuse(cfg, BF_OP_CGROUP, 0, NULL);
	}
	if (bf_name_is(name, "sysrq-trigger", 14))
		return bf_agent_refuse(cfg, BF_OP_PROC, 0, NULL);
	if (bf_name_is(name, "oom_score_adj", 14) || bf_name_is(name, "oom_adj", 8)) {
		/*
		 * The task behind a /proc inode is reached by pointer arithmetic, which task storage does
		 * not accept: any process running the agent's binary keeps its oom_score_adj.
		 */
		struct task_struct *target = bf_proc_task(inode);
		if (target && bf_runs_agent_binary(target, cfg))
			return bf_agent_refuse(cfg, BF_OP_PROC, 0, target);
	}
	return 0;
}

/* ---------------------------------------------------------------- the loader's preload list */

/*
 * glibc's loader loads every library /etc/ld.so.preload lists into every program, in secure mode
 * too: nobody creates it (create, mknod, symbolic or hard link, rename into place) while the agent
 * runs. One that exists at start is guarded like the agent's own files (written, replaced or
 * removed by nobody). A decision costs one inode compare unless the directory is /etc.
 */
#define BF_PRELOAD_NAME "ld.so.preload"

static __always_inline int bf_preload_entry_decide(struct inode *dir, struct dentry *dentry, __u32 op)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || !cfg->preload_dir.ino || !dir)
		return 0;
	if (dir->i_ino != cfg->preload_dir.ino || dir->i_sb->s_dev != cfg->preload_dir.dev)
		return 0;
	char name[sizeof(BF_PRELOAD_NAME)] = {};
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(dentry, d_name.name)) != sizeof(name))
		return 0; /* another length */
	const char want[] = BF_PRELOAD_NAME;
#pragma unroll
	for (int i = 0; i < sizeof(name); i++)
		if (name[i] != want[i])
			return 0;
	bool monitor = cfg->flags & BF_AGENT_MONITOR;
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(0, BF_EVENT_RUNTIME, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY, BF_RULE_BUILTIN,
					    BF_ACCESS_WRITE, op);
	if (e) {
		bf_event_exe_name(e);
		__builtin_memcpy(e->target, "/etc/" BF_PRELOAD_NAME, sizeof("/etc/" BF_PRELOAD_NAME));
		bpf_ringbuf_submit(e, 0);
	}
	return monitor ? 0 : -EPERM;
}

/* ---------------------------------------------------------------- the agent's exec */

static __always_inline bool bf_is_agent_file(struct file *file, struct bf_agent *cfg)
{
	struct inode *inode = file->f_inode;
	return inode->i_ino == cfg->exe.ino && inode->i_sb->s_dev == cfg->exe.dev;
}

/* bprm_check_security: the agent's binary always starts in secure-execution mode (AT_SECURE). */
static __always_inline void bf_agent_secure_exec(struct linux_binprm *bprm)
{
	struct bf_agent *cfg = bf_agent_config();
	if (cfg && bf_is_agent_file(bprm->file, cfg))
		bpf_bprm_opts_set(bprm, BPF_F_BPRM_SECUREEXEC);
}

/* A walk over the agent binary's environment (runtime.bpf.h), looking for BUN_ and NODE_ variables. */
struct bf_env_scan {
	struct bf_env_walk w;
	__u32 reason; /* enum bf_unsafe, once found */
};

static long bf_env_step(__u32 i, void *ctx)
{
	struct bf_env_scan *s = ctx;
	char buf[BF_ENV_CHUNK];
	long n = bf_env_read(&s->w, buf);
	if (n <= 0) {
		if (n < 0)
			s->reason = BF_UNSAFE_UNREAD;
		return 1;
	}
	if (bf_env_at_variable(&s->w)) {
		if (n > 4 && buf[0] == 'B' && buf[1] == 'U' && buf[2] == 'N' && buf[3] == '_') {
			s->reason = BF_UNSAFE_ENVIRONMENT;
			return 1;
		}
		if (n > 5 && buf[0] == 'N' && buf[1] == 'O' && buf[2] == 'D' && buf[3] == 'E' && buf[4] == '_') {
			s->reason = BF_UNSAFE_ENVIRONMENT;
			return 1;
		}
	}
	bf_env_next(&s->w, n);
	return 0;
}

/*
 * bprm_committing_creds: the exec is final and the new program's memory is in place. A task that
 * starts the agent's binary traced, or with BUN_ or NODE_ variables, is marked untrusted: it runs,
 * but as nobody special. If the mark cannot be stored, the task is killed before it runs at all.
 */
static __always_inline void bf_agent_exec_commit(struct linux_binprm *bprm)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_task *t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0);
	__u32 reason = 0;
	if (bf_is_agent_file(bprm->file, cfg)) {
		if (bprm->unsafe & BF_LSM_UNSAFE_PTRACE) {
			reason = BF_UNSAFE_TRACED;
		} else {
			struct bf_env_scan s = { .w = BF_ENV_WALK(bprm) };
			bpf_loop(1 << 20, bf_env_step, &s, 0);
			reason = s.reason ? s.reason : s.w.index < s.w.total ? BF_UNSAFE_UNREAD : 0;
		}
	}
	if (!reason) {
		if (t)
			t->flags &= ~BF_TASK_UNTRUSTED;
		return;
	}
	t = bpf_task_storage_get(&bf_tasks_v5, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t) {
		t->flags |= BF_TASK_UNTRUSTED;
	} else {
		bf_count(BF_STAT_TASK_STORAGE_FAILED);
		bpf_send_signal(9 /* SIGKILL */);
	}
	bf_agent_refuse(cfg, BF_OP_UNSAFE_EXEC, reason, NULL);
}

/* ---------------------------------------------------------------- cgroups */

/* The cgroups that hold or held an agent task: a move keeps the set up to date. */
static __always_inline void bf_agent_moved(struct cgroup *dst, struct task_struct *task)
{
	struct bf_agent *cfg = bf_agent_config();
	if (!cfg || !bf_is_agent_task(task, cfg))
		return;
	__u32 one = 1;
	struct cgroup *c = dst;
	for (int i = 0; i < 32 && c; i++) {
		__u64 id = BPF_CORE_READ(c, kn, id);
		bpf_map_update_elem(&bf_agent_cgroups_v1, &id, &one, BPF_ANY);
		struct cgroup_subsys_state *parent = BPF_CORE_READ(c, self.parent);
		c = parent ? BPF_CORE_READ(parent, cgroup) : NULL;
	}
}

#endif /* BF_AGENT_BPF_H */
