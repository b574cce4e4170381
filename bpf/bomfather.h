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
	BF_ABI_VERSION = 8,
	BF_PATH_MAX = 256, /* bytes of a path carried in an event, NUL included */
	BF_COMM_LEN = 16,
	BF_SLOTS = 2,      /* policy generations the kernel holds: the active one and the next */
	BF_ENV_PATTERNS = 16,   /* variables runtime.environment lists, at most */
	BF_ENV_PATTERN_LEN = 32, /* bytes of one, NUL included */
	BF_ENV_PATTERN_WORDS = 4, /* BF_ENV_PATTERN_LEN in 8-byte words */
};

/* rule_id of events decided by a protection that is always on, not by a policy rule. */
enum bf_rule_builtin {
	BF_RULE_BUILTIN = 0x7fffffff, /* above any rule id: the maps hold far fewer rules */
};

/* What an event reports. */
enum bf_event_kind {
	BF_EVENT_FILE = 1,     /* an operation on a protected file was decided */
	BF_EVENT_IDENTITY = 2, /* an attempt to change what executable a process is */
	BF_EVENT_AGENT = 3,    /* an attempt to stop, pause, trace or tamper with the agent */
	BF_EVENT_RUNTIME = 4,  /* an attempt to hijack a program the policy trusts while it runs */
	BF_EVENT_NETWORK = 5,  /* an outbound connection or datagram, or a socket the rules cannot see into, was decided */
};

/* The operation on a protected file that an event reports. */
enum bf_op {
	BF_OP_OPEN = 1,    /* open(2) and every other way of opening */
	BF_OP_SETATTR = 2, /* truncate, chmod, chown, utimes */
	BF_OP_UNLINK = 3,  /* unlink(2) */
	BF_OP_RENAME = 4,  /* rename(2), as source or as the file replaced */
	BF_OP_RECEIVE = 5, /* a descriptor received over a Unix socket or with pidfd_getfd */
	BF_OP_SET_EXE = 6, /* prctl(PR_SET_MM, PR_SET_MM_EXE_FILE or PR_SET_MM_MAP) */
	BF_OP_SIGNAL = 7,  /* a signal to the agent (kill, tkill, tgkill, pidfd_send_signal); arg: the signal */
	BF_OP_SIGIO = 8,   /* a signal to the agent through F_SETOWN/F_SETSIG; arg: the signal */
	BF_OP_RLIMIT = 9,  /* setrlimit/prlimit on the agent; arg: the resource */
	BF_OP_PTRACE = 10, /* ptrace, process_vm_readv/writev, /proc/PID/mem or pidfd_getfd on the agent; arg: mode */
	BF_OP_BPF = 11,    /* bpf() on the agent's maps, programs or links; arg: the command */
	BF_OP_CGROUP = 12, /* a write to a cgroup file that would kill, freeze or starve the agent */
	BF_OP_UMOUNT = 13, /* unmounting the bpffs that holds the agent's pins */
	BF_OP_PROC = 14,   /* a write to the agent's oom_score_adj, or to /proc/sysrq-trigger */
	BF_OP_UNSAFE_EXEC = 15, /* the agent's binary started traced or with BUN_ or NODE_ variables: not the agent; arg: enum bf_unsafe */
	BF_OP_CREATE = 16, /* creating, linking or moving an entry into a guarded directory */
	BF_OP_XATTR = 17,  /* setxattr, removexattr, setting or removing a POSIX ACL */
	BF_OP_IOCTL = 18,  /* an ioctl that changes a file: its flags (chattr), fsxattr, enabling fs-verity; arg: the command */
	BF_OP_DIGEST = 19, /* exec of a named executable whose content lacks the fs-verity digest the policy pins: it holds no grant */
	BF_OP_TRACED_EXEC = 20, /* exec of a protected program by a traced task */
	BF_OP_FILELESS = 21,    /* exec of a file with no name (runtime.fileless); arg: enum bf_fileless */
	BF_OP_ENVIRONMENT = 22, /* a protected program started with a variable runtime.environment lists (target: the variable) */
	BF_OP_CONNECT = 23,     /* connect(2), also through io_uring and TCP_FASTOPEN_CONNECT */
	BF_OP_SEND = 24,        /* sendto/sendmsg/sendmmsg with an address (UDP, TCP Fast Open), also through io_uring */
	BF_OP_SOCKET = 25,      /* creating a socket whose traffic the rules cannot see (raw, packet, other protocols); arg: the socket type */
};

/* Why a network event's operation was refused (bf_event.reason). */
enum bf_net_reason {
	BF_NET_RESERVED = 1, /* the destination's allow names other executables only */
	BF_NET_CONFINED = 2, /* the executable (or the one it descends from) is confined to other destinations */
	BF_NET_DEFAULT = 3,  /* no destination names it, and network.default is deny */
	BF_NET_OPAQUE = 4,   /* a socket the rules cannot see into, for a confined executable or under default deny */
};

/* Flags of a generation's network settings (bf_net_v1). */
enum bf_net_flag {
	BF_NET_ON = 1,              /* the policy has network rules: connections are decided */
	BF_NET_DENY = 2,            /* network.default is deny */
	BF_NET_DENY_MONITOR = 4,    /* ... and its refusals report and let through */
	BF_NET_CONFINES = 8,        /* some executable is confined (bf_confined_gen_v1 holds entries) */
};

/* Flags of a destination (bf_dest, bf_port_dest). */
enum bf_dest_flag {
	BF_DEST_MONITOR = 1,  /* its refusals report and let through */
	BF_DEST_RESERVED = 2, /* it has an allow list: others may not reach it */
};

/* arg of a BF_OP_UNSAFE_EXEC event. */
enum bf_unsafe {
	BF_UNSAFE_TRACED = 1,      /* traced when it started (LSM_UNSAFE_PTRACE) */
	BF_UNSAFE_ENVIRONMENT = 2, /* a BUN_* or NODE_* variable in its environment */
	BF_UNSAFE_UNREAD = 3,      /* its environment could not be read in full */
};

/* What the kernel did about it. */
enum bf_verdict {
	BF_VERDICT_DENY = 1,  /* refused with EPERM */
	BF_VERDICT_MONITOR = 2, /* monitor mode: would have been refused, let through */
	BF_VERDICT_ALLOW = 3,   /* granted (reported only with BF_AGENT_REPORT_ALLOW) */
};

/* Access bits of a file grant and of a file event. */
enum bf_access {
	BF_ACCESS_READ = 1,
	BF_ACCESS_WRITE = 2,
	BF_ACCESS_CONNECT = 4, /* a destination's grant: its allow names the executable */
	BF_ACCESS_REACH = 8,   /* a destination's grant: the executable is confined, and its to names it */
};

/* A rule's mode: enforce (deny and log) or monitor (log only). */
enum bf_mode {
	BF_MODE_ENFORCE = 0,
	BF_MODE_MONITOR = 1,
};

/* Kinds of BPF object in bf_objects_v1. */
enum bf_object_kind {
	BF_OBJECT_MAP = 1,
	BF_OBJECT_PROG = 2,
	BF_OBJECT_LINK = 3,
};

/* Flags of the agent's configuration (bf_agent_v1). */
enum bf_agent_flag {
	BF_AGENT_MONITOR = 1,      /* self-protection logs attempts and refuses none */
	BF_AGENT_REPORT_ALLOW = 2, /* report granted uses of protected files too (agent.events.include: allow) */
};

/* Flags of a task (bf_tasks_v5). */
enum bf_task_flag {
	BF_TASK_INHERITED = 1, /* `inherited` holds the named executable the task acts as */
	BF_TASK_UNTRUSTED = 2, /* runs the agent's binary but started unsafely: not the agent */
	BF_TASK_LAUNCHER = 4,  /* during an exec: `launcher` holds the named executable (inherit on) that started it */
	BF_TASK_UNVERIFIED = 8, /* runs a named executable whose fs-verity digest did not match: holds no grant */
	BF_TASK_CONFINED = 16,  /* descends from the confined executable `confined`: its confinement applies, whatever runs */
	BF_TASK_CONFINED_MORE = 32, /* descends from two confined executables or more: it reaches no destination */
	BF_TASK_PLAIN = BF_TASK_LAUNCHER, /* the flags a task acting as its own executable, unconfined, may have */
};

/* Flags of a named executable (value of the bf_exes_gen_v2 inner maps). */
enum bf_exe_flag {
	BF_EXE_INHERIT = 1,  /* programs it starts act with its grants */
	BF_EXE_DIGEST = 2,   /* the policy pins its fs-verity digest (bf_exe.digest*) */
	BF_EXE_MEASURED = 4, /* user space measured that digest on this very inode when it applied the generation */
	BF_EXE_SECURE_EXEC = 8,       /* starts in secure-execution mode, never traced (runtime.bpf.h): it holds a grant */
	BF_EXE_MONITOR = 16,          /* BF_EXE_SECURE_EXEC's refusals report and let through (monitor mode) */
	BF_EXE_PTRACE = 32,           /* nobody attaches to it or touches its memory */
	BF_EXE_PTRACE_MONITOR = 64,   /* BF_EXE_PTRACE reports and lets through */
	BF_EXE_TRACER = 128,          /* may still trace the programs BF_EXE_PTRACE protects (runtime.ptrace.tracers) */
	BF_EXE_FILELESS_OK = 256,     /* may run fileless programs (runtime.fileless.allow) */
	BF_EXE_FILELESS_ON = 512,     /* on the policy entry (BF_POLICY_ENTRY): fileless programs are refused */
	BF_EXE_FILELESS_MONITOR = 1024, /* on the policy entry: fileless refusals report and let through */
	BF_EXE_ENV_DENY = 2048,       /* started with a variable runtime.environment lists: killed before it runs (deny) */
	BF_EXE_ENV_MONITOR = 4096,    /* BF_EXE_ENV_DENY reports and lets it run */
	BF_EXE_CONFINED = 8192,       /* network.confine names it (bf_confined_gen_v1 holds the rule): it and its descendants reach its destinations only */
};

/*
 * The key of the entry of the exes map that holds the policy's own runtime settings (inode 0 names
 * no file): its flags (BF_EXE_FILELESS_*) and rule_id (the runtime.fileless rule).
 */
enum bf_policy_entry {
	BF_POLICY_ENTRY_INO = 0,
};

/* arg of a BF_OP_FILELESS event: what kind of file without a name was executed. */
enum bf_fileless {
	BF_FILELESS_MEMFD = 1,   /* memfd_create */
	BF_FILELESS_TMPFILE = 2, /* O_TMPFILE, never linked */
	BF_FILELESS_DELETED = 3, /* a file deleted since it was opened */
};

/* Per-CPU counters of kernel-side failures and decisions (map bf_stats_v2). */
enum bf_stat {
	BF_STAT_DENIED = 0,       /* opens refused */
	BF_STAT_MONITORED = 1,      /* opens that monitor mode let through */
	BF_STAT_RINGBUF_FULL = 2, /* events lost because the ring buffer was full */
	BF_STAT_TASK_STORAGE_FAILED = 3, /* an inherited identity could not be stored (fails closed) */
	BF_STAT_PROTECTION_NOT_CARRIED = 4, /* a file renamed over a protected one could not be protected (map full) */
	BF_STAT_NO_POLICY = 5, /* a decision found no policy generation in its slot (never expected) */
	BF_STAT_MAX = 6,
};

/* An inode as the kernel names it: super_block->s_dev (kernel encoding) and i_ino. */
struct bf_inode_key {
	__u64 ino; /* inode->i_ino */
	__u32 dev; /* inode->i_sb->s_dev, MAJOR << 20 | MINOR */
	__u32 pad; /* always 0 */
};

/*
 * Value of the bf_files_gen_v2 inner maps: the rule that protects an inode. For a directory,
 * writing means changing its entries (creating, linking, removing, renaming one).
 */
struct bf_file_rule {
	__u32 rule_id; /* index into the agent's rule table (policy file:line) */
	__u32 mode;    /* enum bf_mode */
	__u32 guards;  /* enum bf_access bits that need a grant; the others are open to all */
	__u32 flags;   /* enum bf_file_flag bits */
};

/* How an inode came by its rule (bf_file_rule.flags). */
enum bf_file_flag {
	BF_FILE_TREE = 1, /* it is below a protected directory (or is one): what is created, linked or moved into it takes the rule */
	BF_FILE_ROOT = 2, /* the directory a rule names: nobody removes, renames or replaces it */
};

/*
 * Changes below protected directories that the kernel cannot label entry by entry (a directory moved
 * or a file system mounted into one): the entries of bf_trees_v1, one counter each. While they
 * differ, a file with no rule is looked for under its parents, and the agent walks the trees again
 * into a new generation, then records the count it started from as settled.
 */
enum bf_trees_entry {
	BF_TREES_MOVED = 0,   /* written by the programs: one more per such change */
	BF_TREES_SETTLED = 1, /* written by the agent: every change up to this count is in the generation in force */
	BF_TREES_MAX = 2,
};
/*
 * Value of the bf_exes_gen_v2 inner maps (keyed by the executable's inode): a named executable. Its
 * rule (policy file:line of its definition) names it in events and guards its file against change.
 */
struct bf_exe {
	__u32 flags;   /* enum bf_exe_flag bits */
	__u32 rule_id; /* the executable's rule */
	__u64 digest0; /* with BF_EXE_DIGEST: the SHA-256 fs-verity digest, bytes 0-7 as a little-endian word */
	__u64 digest1; /* bytes 8-15 */
	__u64 digest2; /* bytes 16-23 */
	__u64 digest3; /* bytes 24-31 */
};

/* Key of the bf_grants_gen_v1 inner maps: may this executable inode open files of this rule? */
struct bf_grant_key {
	__u32 rule_id; /* the protecting rule */
	__u32 dev;     /* executable's inode: s_dev */
	__u64 ino;     /* executable's inode: i_ino */
};

/* Value of the bf_grants_gen_v1 inner maps. */
struct bf_grant {
	__u32 access; /* enum bf_access bits this executable may use */
	__u32 pad;    /* always 0 */
};

/*
 * The last destination a task reached with no word from the rules (no refusal, no monitor event):
 * the same destination again, in the same generation, before the task execs again, is allowed
 * without another look (net.bpf.h). Kept and used only while the task acts as its own executable,
 * unconfined (flags within BF_TASK_PLAIN): its decision then depends on nothing but the generation
 * (whose maps never change once in force), its executable and the destination. Its executable
 * changes only by an exec, which task->self_exec_id counts (the agent refuses prctl's
 * PR_SET_MM_EXE_FILE to everyone: identity.bpf.h).
 */
struct bf_reached {
	__u8 addr[16];     /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	__u16 port;        /* host byte order */
	__u16 protocol;    /* as the rules see it (bf_net_attempt.protocol) */
	__u32 generation;  /* the generation that allowed it; 0: nothing kept */
	__u64 exec_id;     /* the task's self_exec_id then */
};

/* Value of bf_tasks_v5 (task storage). */
struct bf_task {
	struct bf_inode_key inherited; /* with BF_TASK_INHERITED: the named executable it acts as */
	struct bf_inode_key launcher;  /* with BF_TASK_LAUNCHER: the named executable whose exec is under way */
	struct bf_inode_key confined;  /* with BF_TASK_CONFINED: the confined executable it descends from */
	__u32 flags;                   /* enum bf_task_flag bits */
	__u32 pad;                     /* always 0 */
	struct bf_reached reached;     /* written by net.bpf.h only */
};

/* Value of bf_agent_v1 (one entry): who the agent is and what it guards beside its policy. */
struct bf_agent {
	struct bf_inode_key exe;      /* the agent's binary; ino 0 until the agent is installed */
	struct bf_inode_key shutdown; /* the host's systemd-shutdown: as PID 1 it may signal the agent; ino 0: none */
	struct bf_inode_key preload_dir; /* the directory of the loader's preload list (/etc): nobody creates ld.so.preload there; ino 0: none */
	__u32 pins_dev;          /* s_dev of the bpffs holding the agent's pins */
	__u32 state_dev;         /* s_dev of the file system holding the agent's state and socket */
	__u32 flags;             /* enum bf_agent_flag bits */
	__u32 pad;               /* always 0 */
};

/*
 * Value of bf_env_v1, one per slot: the variables runtime.environment refuses, for the generation
 * in that slot. A pattern is "NAME=" for one variable, or a prefix ("LD_") for a name written with
 * a trailing "*": its bytes, NUL-padded, as little-endian words, and a mask with 0xff under each
 * byte of the pattern; a variable matches when (its first bytes & mask) == pattern, word by word.
 */
struct bf_env_rules {
	__u32 count; /* patterns in use */
	__u32 pad;   /* always 0 */
	__u64 words[BF_ENV_PATTERNS][BF_ENV_PATTERN_WORDS];
	__u64 masks[BF_ENV_PATTERNS][BF_ENV_PATTERN_WORDS];
};

/*
 * Key of the bf_dests_gen_v1 inner maps (LPM tries): an address prefix. IPv4 is held as IPv4-mapped
 * IPv6 (::ffff:a.b.c.d, prefix 96 + n), so one trie serves both families and a mapped address
 * matches the IPv4 rule.
 */
struct bf_dest_key {
	__u32 prefixlen; /* bits of addr that must match */
	__u8 addr[16];   /* network byte order */
};

/* Value of the bf_dests_gen_v1 inner maps: the destination(s) of an address prefix. */
struct bf_dest {
	__u32 rule_id; /* with ports 0: the destination's rule; otherwise a reserved one at this prefix, for sockets without ports (BF_DEST_RESERVED) */
	__u32 ports;   /* 0: every port and protocol is rule_id's; otherwise the id of this prefix's entries in bf_ports_gen_v1 */
	__u32 flags;   /* enum bf_dest_flag bits (of rule_id) */
	__u32 pad;     /* always 0 */
};

/*
 * Key of the bf_ports_gen_v1 inner maps (LPM tries): data holds the ports id (4 bytes, big-endian),
 * the protocol (IPPROTO_TCP or IPPROTO_UDP), and the port (2 bytes, big-endian); a port range is a
 * few prefixes over the port's bits. Entries of a prefix include those of the shorter prefixes
 * around it, for the ports its own destinations leave out: one lookup decides.
 */
struct bf_port_key {
	__u32 prefixlen; /* 40 + bits of the port that must match */
	__u8 data[8];    /* ports id, protocol, port, one byte of padding (always 0) */
};

/* Value of the bf_ports_gen_v1 inner maps. */
struct bf_port_dest {
	__u32 rule_id; /* the destination's rule */
	__u32 flags;   /* enum bf_dest_flag bits */
};

/* Value of the bf_confined_gen_v1 inner maps (keyed by the executable's inode): its confinement. */
struct bf_confinement {
	__u32 rule_id; /* the network.confine entry */
	__u32 mode;    /* enum bf_mode */
};

/* Value of bf_net_v1, one per slot: the network settings of the generation in that slot. */
struct bf_net_policy {
	__u32 flags;        /* enum bf_net_flag bits */
	__u32 default_rule; /* rule of network.default (events of BF_NET_DEFAULT and BF_NET_OPAQUE) */
};

/* Key of bf_objects_v1: one of the agent's maps, programs or links. */
struct bf_object_key {
	__u32 kind; /* enum bf_object_kind */
	__u32 id;   /* the kernel's id of the object */
};

/*
 * Value of bf_state_v2 (one entry): which slot of the bf_*_gen maps the programs decide with. User
 * space fills the other slot with a new generation, then switches `active` in one update.
 */
struct bf_state {
	__u32 active;      /* slot of the generation in force: 0 or 1 (BF_SLOTS) */
	__u32 generation0; /* generation number held by slot 0; 0: empty */
	__u32 generation1; /* generation number held by slot 1; 0: empty */
	__u32 trees;       /* bit (1 << slot): that slot's generation has rules on directories */
};

/* One record in the ring buffer bf_events_v5. */
struct bf_event {
	__u64 boot_ns;          /* bpf_ktime_get_boot_ns() at the decision */
	__u32 generation;       /* the policy generation that decided: rule_id is one of its rules */
	__u32 kind;             /* enum bf_event_kind */
	__u32 verdict;          /* enum bf_verdict */
	__u32 rule_id;          /* the rule that decided; BF_RULE_BUILTIN for built-in protections */
	__u32 access;           /* enum bf_access bits requested */
	__u32 pid;              /* thread group id */
	__u32 tid;              /* thread id */
	__u32 uid;              /* real uid */
	__u32 op;               /* enum bf_op */
	__u32 arg;              /* what op says it holds (a signal, a bpf() command...); 0 otherwise */
	__u32 target_pid;       /* for operations on a process: its thread group id; 0 otherwise */
	__u32 identity;         /* 1 + rule id of the named executable the task was judged as; 0: a program the policy does not name */
	__u8 addr[16];          /* BF_EVENT_NETWORK: the destination (IPv4 as ::ffff:a.b.c.d), network byte order */
	__u16 port;             /* BF_EVENT_NETWORK: the destination port */
	__u16 protocol;         /* BF_EVENT_NETWORK: IPPROTO_* of the socket */
	__u16 family;           /* BF_EVENT_NETWORK: AF_* of the socket */
	__u16 reason;           /* BF_EVENT_NETWORK: enum bf_net_reason */
	char comm[BF_COMM_LEN]; /* task->comm */
	char exe[BF_PATH_MAX];  /* the executable, as d_path sees it */
	char target[BF_PATH_MAX]; /* the file, as d_path sees it; empty when the hook has no path */
};

#endif /* BOMFATHER_H */
