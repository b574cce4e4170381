/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Runtime-hijack defense of the programs a policy trusts, on by default: every named executable
 * that holds a grant (bf_exe BF_EXE_RUNTIME), and every program that acts as one (a child that
 * inherited its identity), is hard to hijack while it runs:
 * - it starts in secure-execution mode (AT_SECURE): the dynamic loader ignores LD_PRELOAD,
 *   LD_AUDIT, LD_LIBRARY_PATH and the other loader variables, and GLIBC_TUNABLES' unsafe ones,
 *   wherever they sit in the environment. Nothing reads the environment, so nothing can race it;
 * - it cannot be started traced (PTRACE_TRACEME before exec, or a tracer attached to the caller):
 *   the exec is refused;
 * - nobody else attaches to it or touches its memory: ptrace attach and seize,
 *   process_vm_readv/writev, /proc/PID/mem, pidfd_getfd (the kernel's ATTACH checks), and it
 *   cannot ask to be traced. Its own processes (the same identity) are not refused.
 * In monitor mode (BF_EXE_MONITOR) each attempt is reported and let through.
 */
#ifndef BF_RUNTIME_BPF_H
#define BF_RUNTIME_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"

/* From include/linux/ptrace.h and security.h (macros do not reach BTF). */
#define BF_PTRACE_MODE_ATTACH 0x02
#define BF_LSM_UNSAFE_PTRACE 2

/*
 * Report an attempt on a protected program (named: its entry, whose rule decided) or a refused
 * fileless exec (named: the policy entry, whose rule is runtime.fileless); -EPERM, or 0 in monitor mode.
 */
static __always_inline int bf_runtime_refuse(__u32 generation, struct bf_exe *named, bool monitor, __u32 op, __u32 arg,
					     struct task_struct *target)
{
	bool is_exe = op != BF_OP_FILELESS;
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_RUNTIME, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY,
					    named->rule_id, 0, op);
	if (e) {
		e->arg = arg;
		e->identity = is_exe ? named->rule_id + 1 : 0;
		e->target_pid = target ? BPF_CORE_READ(target, tgid) : 0;
		bf_event_exe_name(e);
		bpf_ringbuf_submit(e, 0);
	}
	return monitor ? 0 : -EPERM;
}

/* The named executable task acts as when it has flag, and its identity; NULL otherwise. */
static __always_inline struct bf_exe *bf_runtime_protected(struct task_struct *task, __u32 flag, __u32 *generation,
							   struct bf_inode_key *id)
{
	void *exes = bf_exes_in_force(generation);
	if (!exes || !bf_current_identity(task, id))
		return NULL;
	struct bf_exe *named = bpf_map_lookup_elem(exes, id);
	return named && (named->flags & flag) ? named : NULL;
}

/* An exec decided (inherit.bpf.h): what it starts as is protected, so it starts safely, or not at all. */
static __always_inline int bf_runtime_exec_decide(struct linux_binprm *bprm, struct bf_exec_decision *d)
{
	if ((d->acts != BF_ACTS_NAMED && d->acts != BF_ACTS_INHERITED) || !d->exe ||
	    !(d->exe->flags & (BF_EXE_SECURE_EXEC | BF_EXE_ENV_DENY)))
		return 0;
	bpf_bprm_opts_set(bprm, BPF_F_BPRM_SECUREEXEC);
	if (bprm->unsafe & BF_LSM_UNSAFE_PTRACE)
		return bf_runtime_refuse(d->generation, d->exe, d->exe->flags & BF_EXE_MONITOR, BF_OP_TRACED_EXEC, 0, NULL);
	return 0;
}

/* ptrace_access_check: attaching to, or reading or writing the memory of, a protected program. */
static __always_inline int bf_runtime_ptrace_decide(struct task_struct *target, unsigned int mode)
{
	if (!(mode & BF_PTRACE_MODE_ATTACH))
		return 0; /* reading /proc/PID/stat and the like */
	__u32 generation;
	struct bf_inode_key victim = {}, tracer = {};
	struct bf_exe *named = bf_runtime_protected(target, BF_EXE_PTRACE, &generation, &victim);
	if (!named)
		return 0;
	/*
	 * The tracers the policy names (runtime.ptrace.tracers), and the program's own processes: the
	 * lookup leaves the tracer's identity in tracer (zero when it has none), so it is not read twice.
	 */
	if (bf_runtime_protected(bpf_get_current_task_btf(), BF_EXE_TRACER, &generation, &tracer))
		return 0;
	if (tracer.ino == victim.ino && tracer.dev == victim.dev)
		return 0;
	return bf_runtime_refuse(generation, named, named->flags & BF_EXE_PTRACE_MONITOR, BF_OP_PTRACE, mode, target);
}

/* ptrace_traceme: a protected program asking to be traced by its parent. */
static __always_inline int bf_runtime_traceme_decide(void)
{
	__u32 generation;
	struct bf_inode_key id = {};
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_exe *named = bf_runtime_protected(task, BF_EXE_PTRACE, &generation, &id);
	return named ? bf_runtime_refuse(generation, named, named->flags & BF_EXE_PTRACE_MONITOR, BF_OP_PTRACE, 0, task) : 0;
}

/*
 * runtime.fileless: exec of a file that has no name (memfd_create, O_TMPFILE never linked, or
 * deleted), refused unless the caller acts as an executable the policy allows. Costs one load of
 * i_nlink for every other exec.
 */
static __always_inline int bf_fileless_decide(struct linux_binprm *bprm)
{
	struct inode *inode = bprm->file->f_inode;
	if (inode->i_nlink)
		return 0;
	__u32 generation;
	void *exes = bf_exes_in_force(&generation);
	if (!exes)
		return 0;
	struct bf_inode_key key = { .ino = BF_POLICY_ENTRY_INO };
	struct bf_exe *policy = bpf_map_lookup_elem(exes, &key);
	if (!policy || !(policy->flags & BF_EXE_FILELESS_ON))
		return 0;
	struct bf_inode_key id = {};
	if (bf_runtime_protected(bpf_get_current_task_btf(), BF_EXE_FILELESS_OK, &generation, &id))
		return 0;
	const unsigned char *name = BPF_CORE_READ(bprm->file, f_path.dentry, d_name.name);
	char prefix[6] = {};
	if (name)
		bpf_probe_read_kernel(prefix, sizeof(prefix), name);
	__u32 kind = prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' && prefix[4] == 'd' &&
				 prefix[5] == ':'
			     ? BF_FILELESS_MEMFD
		     : prefix[0] == '#' ? BF_FILELESS_TMPFILE /* O_TMPFILE names its dentry "#<inode number>" */
					: BF_FILELESS_DELETED;
	return bf_runtime_refuse(generation, policy, policy->flags & BF_EXE_FILELESS_MONITOR, BF_OP_FILELESS, kind, NULL);
}

/*
 * runtime.environment, action deny: a protected program started with a listed variable is killed
 * before it runs its first instruction. Refusing the exec itself would need the new program's
 * strings before the point of no return, where only a sleepable hook may read them; here, at
 * bprm_committing_creds, they sit in the new program's memory, which no other task can reach, so
 * reading them cannot race. It also started in secure-execution mode (bf_runtime_exec_decide).
 */
#define BF_ENV_CHUNK 64 /* bytes of a program's strings read at a time (a power of two) */

/*
 * A walk over the strings a new program starts with, where exec copied them: argc argument
 * strings, then envc environment strings, from bprm->p up. Read in chunks, so a string of any
 * length is walked; only the first bytes of each environment string are looked at. Shared with
 * agent.bpf.h, which walks the agent binary's environment.
 */
struct bf_env_walk {
	unsigned long p; /* next byte to read, in the new program's memory */
	__u32 index;     /* strings passed so far */
	__u32 argc;      /* strings before the environment */
	__u32 total;     /* argc + envc */
	__u32 at_start;  /* p is the first byte of a string */
};

#define BF_ENV_WALK(bprm) { .p = (bprm)->p, .argc = (bprm)->argc, .total = (bprm)->argc + (bprm)->envc, .at_start = 1 }

/* The next chunk, into buf: its length (NUL included when the string ends in it); 0 once every string is passed; -1 when it cannot be read. */
static __always_inline long bf_env_read(struct bf_env_walk *w, char *buf)
{
	if (w->index >= w->total)
		return 0;
	long n = bpf_probe_read_user_str(buf, BF_ENV_CHUNK, (const void *)w->p);
	return n <= 0 || n > BF_ENV_CHUNK ? -1 : n;
}

/* Does the chunk just read start an environment variable? */
static __always_inline bool bf_env_at_variable(struct bf_env_walk *w)
{
	return w->at_start && w->index >= w->argc;
}

/* Past the chunk of n bytes just read. */
static __always_inline void bf_env_next(struct bf_env_walk *w, long n)
{
	if (n < BF_ENV_CHUNK) { /* the string ends in this chunk */
		w->p += n;
		w->index++;
		w->at_start = 1;
	} else { /* it goes on (or ends exactly at the chunk's last byte: the next read finds its NUL) */
		w->p += BF_ENV_CHUNK - 1;
		w->at_start = 0;
	}
}

struct bf_env_match {
	struct bf_env_walk w;
	__u32 found; /* 1: a listed variable, 2: the environment could not be read in full */
	__u32 slot;
	char name[BF_ENV_PATTERN_LEN]; /* the start of the variable found */
};

static long bf_env_match_step(__u32 i, void *ctx)
{
	struct bf_env_match *m = ctx;
	char buf[BF_ENV_CHUNK] __attribute__((aligned(8))) = {};
	long n = bf_env_read(&m->w, buf);
	if (n <= 0) {
		if (n < 0)
			m->found = 2;
		return 1;
	}
	if (bf_env_at_variable(&m->w)) {
		__u32 slot = m->slot;
		struct bf_env_rules *rules = bpf_map_lookup_elem(&bf_env_v1, &slot);
		/* Bytes past the string's end are zero (buf starts zeroed): a pattern longer than the variable does not match. */
		__u64 *v = (__u64 *)buf;
		for (int p = 0; rules && p < BF_ENV_PATTERNS; p++) {
			if (p >= rules->count)
				break;
			if ((v[0] & rules->masks[p][0]) == rules->words[p][0] && (v[1] & rules->masks[p][1]) == rules->words[p][1] &&
			    (v[2] & rules->masks[p][2]) == rules->words[p][2] && (v[3] & rules->masks[p][3]) == rules->words[p][3]) {
				__builtin_memcpy(m->name, buf, sizeof(m->name));
				m->name[sizeof(m->name) - 1] = 0;
				m->found = 1;
				return 1;
			}
		}
	}
	bf_env_next(&m->w, n);
	return 0;
}

static __always_inline void bf_runtime_env_decide(struct linux_binprm *bprm)
{
	__u32 slot, generation;
	if (!bf_in_force(&slot, &generation))
		return;
	void *exes = bf_policy_map(&bf_exes_gen_v2, slot);
	struct bf_inode_key id = {};
	if (!exes || !bf_current_identity(bpf_get_current_task_btf(), &id))
		return;
	struct bf_exe *named = bpf_map_lookup_elem(exes, &id);
	if (!named || !(named->flags & BF_EXE_ENV_DENY))
		return;
	struct bf_env_match m = { .w = BF_ENV_WALK(bprm), .slot = slot };
	bpf_loop(1 << 20, bf_env_match_step, &m, 0);
	if (!m.found && m.w.index < m.w.total)
		m.found = 2;
	if (!m.found)
		return;
	bool monitor = named->flags & BF_EXE_ENV_MONITOR;
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_RUNTIME, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY,
					    named->rule_id, 0, BF_OP_ENVIRONMENT);
	if (e) {
		e->identity = named->rule_id + 1;
		e->arg = m.found;
		bf_event_exe_name(e);
		__builtin_memcpy(e->target, m.name, sizeof(m.name));
		bpf_ringbuf_submit(e, 0);
	}
	if (!monitor)
		bpf_send_signal(9 /* SIGKILL */);
}

#endif /* BF_RUNTIME_BPF_H */
