/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Egress per executable: where an outbound connection or datagram is decided.
 *
 * Every way out reaches one of three hooks: socket_connect (connect, io_uring connect,
 * TCP_FASTOPEN_CONNECT), socket_sendmsg with an address (sendto, sendmsg, sendmmsg, TCP Fast Open's
 * sendto(MSG_FASTOPEN), io_uring send) and socket_create (raw, packet and other sockets whose
 * traffic no address rule can see).
 *
 * A destination is found in two lookups at most, whatever the number of rules: the longest address
 * prefix (an LPM trie holding IPv4 as ::ffff:a.b.c.d), then, for a prefix whose destinations name
 * ports or a protocol, the port's entry (a second LPM trie over ports id, protocol and port bits).
 * Then, in order, each refusal reported (monitor mode goes on to the next check):
 * - a destination with an allow list: the task's identity (inherit.bpf.h) must be on it;
 * - a confined task (its identity, its own program, or a confined executable it descends from)
 *   must be confined to that destination;
 * - no destination: a confined task is refused, and everyone under network.default: deny.
 * The agent itself is never refused (its DNS lookups, its control socket).
 *
 * A task that acts as its own executable, unconfined, keeps the last destination it reached with no
 * word from the rules (bf_task.reached): sending to it again, in the same generation, before the
 * task execs again, is allowed after one task-storage lookup, without the two lookups and the judge.
 * Nothing else can change that decision: a generation's maps are never written once it is in force,
 * an exec is counted (task->self_exec_id), and an inherited identity or a confinement comes with
 * an exec and shows in the task's flags.
 */
#ifndef BF_NET_BPF_H
#define BF_NET_BPF_H

#include "maps.bpf.h"
#include "inherit.bpf.h"
#include "agent.bpf.h"

/* Address families, socket types and protocols (macros do not reach BTF). */
#define BF_AF_UNSPEC 0
#define BF_AF_UNIX 1
#define BF_AF_INET 2
#define BF_AF_INET6 10
#define BF_AF_NETLINK 16
#define BF_AF_ALG 38
#define BF_SOCK_STREAM 1
#define BF_SOCK_DGRAM 2
#define BF_SOCK_TYPE_MASK 0xf
#define BF_IPPROTO_TCP 6
#define BF_IPPROTO_UDP 17
#define BF_IPPROTO_MPTCP 262

/* What is being decided: the destination, and what the event reports. */
struct bf_net_attempt {
	__u8 addr[16] __attribute__((aligned(8))); /* IPv6, or IPv4 as ::ffff:a.b.c.d; compared as two words */
	__u16 port;    /* host byte order */
	__u16 protocol; /* IPPROTO_TCP or IPPROTO_UDP as the rules see it; 0: neither */
	__u16 sock_protocol; /* the socket's own */
	__u16 family;
	__u32 op;
	__u32 arg;
};

/* The settings of the generation in force; NULL when it has no network rules. */
static __always_inline struct bf_net_policy *bf_net_in_force(__u32 *slot, __u32 *generation)
{
	if (!bf_in_force(slot, generation))
		return NULL;
	struct bf_net_policy *net = bpf_map_lookup_elem(&bf_net_v1, slot);
	return net && (net->flags & BF_NET_ON) ? net : NULL;
}

/* Is the current task the agent? Asked only before a refusal. */
static __always_inline bool bf_net_is_agent(void)
{
	struct bf_agent *cfg = bf_agent_config();
	return cfg && bf_is_agent_task(bpf_get_current_task_btf(), cfg);
}

/* Report a refusal; true when it is enforced (the operation fails). */
static __always_inline bool bf_net_refuse(__u32 generation, __u32 slot, struct bf_net_attempt *a, __u32 rule_id, bool monitor,
					  __u32 reason, bool known, struct bf_inode_key *id)
{
	bf_count(monitor ? BF_STAT_MONITORED : BF_STAT_DENIED);
	struct bf_event *e = bf_event_begin(generation, BF_EVENT_NETWORK, monitor ? BF_VERDICT_MONITOR : BF_VERDICT_DENY, rule_id, 0, a->op);
	if (e) {
		e->arg = a->arg;
		__builtin_memcpy(e->addr, a->addr, sizeof(e->addr));
		e->port = a->port;
		e->protocol = a->sock_protocol;
		e->family = a->family;
		e->reason = reason;
		e->identity = bf_identity_rule(slot, known, id);
		bf_event_exe_name(e);
		bpf_ringbuf_submit(e, 0);
	}
	return !monitor;
}

/* The confinement of one executable, if any, and whether it lets the task reach rule's destination (rule: none when ~0). */
static __always_inline struct bf_confinement *bf_confinement_refusing(void *confined, void *grants, struct bf_inode_key *exe, __u32 rule)
{
	struct bf_confinement *c = bpf_map_lookup_elem(confined, exe);
	if (!c)
		return NULL;
	if (rule == ~0U)
		return c;
	struct bf_grant_key gk = { .rule_id = rule, .dev = exe->dev, .ino = exe->ino };
	struct bf_grant *g = grants ? bpf_map_lookup_elem(grants, &gk) : NULL;
	return g && (g->access & BF_ACCESS_REACH) ? NULL : c;
}

/*
 * The task's own executable file, by plain loads (every connect and datagram with an address comes
 * here: no helper call per field). False for kernel threads.
 */
static __always_inline bool bf_net_own_exe(struct task_struct *task, struct bf_inode_key *key)
{
	struct mm_struct *mm = task->mm;
	if (!mm)
		return false;
	struct file *exe = mm->exe_file;
	if (!exe)
		return false;
	struct inode *inode = exe->f_inode;
	if (!inode)
		return false;
	key->ino = inode->i_ino;
	key->dev = inode->i_sb->s_dev;
	return true;
}

/*
 * Who is deciding: the task, its storage (NULL: none) and its own executable file, read the first
 * time it is needed (bf_net_own): a destination named for all, under a policy that confines
 * nobody, is allowed without it.
 */
struct bf_net_subject {
	struct task_struct *task;
	struct bf_task *t;
	struct bf_inode_key own;
	bool has_own;
	bool own_read;
};

/* The subject's own executable (false for kernel threads), read once. */
static __always_inline bool bf_net_own(struct bf_net_subject *s)
{
	if (!s->own_read) {
		s->has_own = bf_net_own_exe(s->task, &s->own);
		s->own_read = true;
	}
	return s->has_own;
}

/* Does the task act as its own executable, unconfined (its flags within BF_TASK_PLAIN)? */
static __always_inline bool bf_task_plain(struct bf_task *t)
{
	return t && !(t->flags & ~BF_TASK_PLAIN);
}

/*
 * Did the task reach this destination last, in this generation, as its own executable, unconfined,
 * since its last exec? Its executable is not read: only an exec changes it.
 */
static __always_inline bool bf_reached_again(struct bf_net_subject *s, __u32 generation, struct bf_net_attempt *a)
{
	struct bf_task *t = s->t;
	if (!bf_task_plain(t))
		return false;
	struct bf_reached *r = &t->reached;
	/* addr, port and protocol lie alike in both: two words and a half-word pair. */
	__u64 *x = (__u64 *)r->addr, *y = (__u64 *)a->addr;
	return r->generation == generation && r->exec_id == s->task->self_exec_id && x[0] == y[0] && x[1] == y[1] &&
	       *(__u32 *)&r->port == *(__u32 *)&a->port;
}

/* Keep a destination the rules let the task reach without a word, if the task may keep one. */
static __always_inline void bf_reached_keep(struct bf_net_subject *s, __u32 generation, struct bf_net_attempt *a)
{
	struct bf_task *t = s->t;
	if (!bf_task_plain(t) || !bf_net_own(s))
		return;
	struct bf_reached *r = &t->reached;
	__builtin_memcpy(r->addr, a->addr, sizeof(r->addr));
	r->port = a->port;
	r->protocol = a->protocol;
	r->exec_id = s->task->self_exec_id;
	r->generation = generation;
}

/*
 * The whole decision for the current task. rule: the destination found (~0: none); flags its
 * bf_dest_flag bits. 0 or -EPERM; *silent stays true only when nothing was reported. The task's
 * storage is read once (by the caller); its identity is what inherit.bpf.h says
 * (bf_current_identity), computed here from that one read.
 */
static __always_inline int bf_net_judge(__u32 slot, __u32 generation, struct bf_net_policy *net, struct bf_net_attempt *a,
					__u32 rule, __u32 flags, bool opaque, struct bf_net_subject *s, bool *silent)
{
	bool reserved = rule != ~0U && (flags & BF_DEST_RESERVED);
	/* Nothing reserved here, nobody confined, somewhere the policy names: nothing to decide. */
	if (!reserved && !(net->flags & BF_NET_CONFINES) && rule != ~0U)
		return 0;
	struct bf_task *t = s->t;
	__u32 tflags = t ? t->flags : 0;
	bool has_own = bf_net_own(s);
	struct bf_inode_key own = s->own, id = {};
	bool known = has_own && !(tflags & (BF_TASK_UNTRUSTED | BF_TASK_UNVERIFIED));
	if (t && (tflags & BF_TASK_INHERITED) && !(tflags & (BF_TASK_UNTRUSTED | BF_TASK_UNVERIFIED))) {
		id = t->inherited;
		known = true;
	} else {
		id = own;
	}
	void *grants = bf_policy_map(&bf_grants_gen_v1, slot);

	/* A destination reserved for the executables its allow names. */
	if (reserved) {
		struct bf_grant_key gk = { .rule_id = rule, .dev = id.dev, .ino = id.ino };
		struct bf_grant *g = known && grants ? bpf_map_lookup_elem(grants, &gk) : NULL;
		if (!(g && (g->access & BF_ACCESS_CONNECT)) && !bf_net_is_agent()) {
			*silent = false;
			if (bf_net_refuse(generation, slot, a, rule, flags & BF_DEST_MONITOR, BF_NET_RESERVED, known, &id))
				return -EPERM;
		}
	}

	/* Confinements: the identity's, the task's own program's, and the one it descends from. */
	if (net->flags & BF_NET_CONFINES) {
		void *confined = bf_policy_map(&bf_confined_gen_v1, slot);
		if (!confined)
			return 0;
		struct bf_confinement *c = NULL;
		if (known)
			c = bf_confinement_refusing(confined, grants, &id, rule);
		if (!c && has_own && (tflags & (BF_TASK_INHERITED | BF_TASK_UNVERIFIED)))
			c = bf_confinement_refusing(confined, grants, &own, rule);
		if (!c && t && (tflags & BF_TASK_CONFINED)) {
			struct bf_inode_key kept = t->confined;
			c = bf_confinement_refusing(confined, grants, &kept, rule);
		}
		bool more = (tflags & BF_TASK_CONFINED_MORE);
		if ((c || more) && !bf_net_is_agent()) {
			*silent = false;
			/* Two confinements or more: the kernel does not intersect them; nothing is reachable. */
			__u32 confine_rule = c ? c->rule_id : rule == ~0U ? net->default_rule : rule;
			bool monitor = c ? c->mode == BF_MODE_MONITOR : false;
			if (bf_net_refuse(generation, slot, a, confine_rule, monitor, opaque ? BF_NET_OPAQUE : BF_NET_CONFINED, known, &id))
				return -EPERM;
		}
	}

	/* Nowhere the policy names, or a socket it cannot see into: network.default. */
	if (rule == ~0U && (net->flags & BF_NET_DENY) && !bf_net_is_agent()) {
		*silent = false;
		if (bf_net_refuse(generation, slot, a, net->default_rule, net->flags & BF_NET_DENY_MONITOR,
				  opaque ? BF_NET_OPAQUE : BF_NET_DEFAULT, known, &id))
			return -EPERM;
	}
	return 0;
}

/* Find the destination of a->addr, a->port, a->protocol, then judge. */
static __always_inline int bf_net_decide(struct bf_net_attempt *a)
{
	__u32 slot, generation;
	struct bf_net_policy *net = bf_net_in_force(&slot, &generation);
	if (!net)
		return 0;
	/* Storage for every task that reaches out: where it keeps its last destination. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_net_subject s = { .task = task, .t = bpf_task_storage_get(&bf_tasks_v5, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE) };
	if (bf_reached_again(&s, generation, a))
		return 0;
	__u32 rule = ~0U, flags = 0;
	void *dests = bf_policy_map(&bf_dests_gen_v1, slot);
	struct bf_dest_key dk = { .prefixlen = 128 };
	__builtin_memcpy(dk.addr, a->addr, sizeof(dk.addr));
	struct bf_dest *d = dests ? bpf_map_lookup_elem(dests, &dk) : NULL;
	if (d && !d->ports) {
		rule = d->rule_id;
		flags = d->flags;
	} else if (d && a->protocol) {
		void *ports = bf_policy_map(&bf_ports_gen_v1, slot);
		struct bf_port_key pk = { .prefixlen = 56 };
		__u32 id = d->ports;
		pk.data[0] = id >> 24;
		pk.data[1] = id >> 16;
		pk.data[2] = id >> 8;
		pk.data[3] = id;
		pk.data[4] = a->protocol;
		pk.data[5] = a->port >> 8;
		pk.data[6] = a->port;
		struct bf_port_dest *pd = ports ? bpf_map_lookup_elem(ports, &pk) : NULL;
		if (pd) {
			rule = pd->rule_id;
			flags = pd->flags;
		}
	} else if (d && (d->flags & BF_DEST_RESERVED)) {
		/* A protocol without ports to a prefix reserved for some: decided as that destination. */
		rule = d->rule_id;
		flags = d->flags;
	}
	bool silent = true;
	int verdict = bf_net_judge(slot, generation, net, a, rule, flags, false, &s, &silent);
	if (!verdict && silent)
		bf_reached_keep(&s, generation, a);
	return verdict;
}

/* The protocol as the rules name it: TCP (MPTCP too), UDP, or 0 for what they do not see into. */
static __always_inline __u16 bf_rules_protocol(__u16 protocol)
{
	if (protocol == BF_IPPROTO_TCP || protocol == BF_IPPROTO_MPTCP)
		return BF_IPPROTO_TCP;
	if (protocol == BF_IPPROTO_UDP)
		return BF_IPPROTO_UDP;
	return 0;
}

/*
 * Read a destination address given to connect or sendmsg (kernel memory: the kernel copied it in).
 * False for anything but AF_INET/AF_INET6 with a complete address: other families are not network
 * destinations, and a short address fails in the protocol anyway. One exception: an IPv4 datagram
 * socket takes a sendto address whose family is AF_UNSPEC as AF_INET (udp_sendmsg, raw_sendmsg,
 * ping), so on such a socket it is read as one (unspec_is_inet). A connect with AF_UNSPEC
 * disconnects: it reaches nothing.
 */
static __always_inline bool bf_read_destination(void *uaddr, int len, bool unspec_is_inet, struct bf_net_attempt *a)
{
	/* One read: as much of a sockaddr_in6 as was given (a sockaddr_in is shorter). */
	struct sockaddr_in6 sa = {};
	if (!uaddr || len < (int)sizeof(struct sockaddr_in))
		return false;
	__u32 size = len >= (int)sizeof(sa) ? sizeof(sa) : len >= 24 ? 24 : sizeof(struct sockaddr_in);
	if (bpf_probe_read_kernel(&sa, size, uaddr))
		return false;
	__u16 family = sa.sin6_family;
	if (family == BF_AF_UNSPEC && unspec_is_inet)
		family = BF_AF_INET;
	a->family = family;
	if (family == BF_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
		__builtin_memset(a->addr, 0, 10);
		a->addr[10] = 0xff;
		a->addr[11] = 0xff;
		__builtin_memcpy(&a->addr[12], &sin->sin_addr.s_addr, 4);
		a->port = bpf_ntohs(sin->sin_port);
		return true;
	}
	if (family == BF_AF_INET6 && len >= 24 /* SIN6_LEN_RFC2133: without scope id */) {
		__builtin_memcpy(a->addr, &sa.sin6_addr, 16);
		a->port = bpf_ntohs(sa.sin6_port);
		return true;
	}
	return false;
}

static __always_inline int bf_net_address_decide(struct socket *sock, void *uaddr, int len, __u32 op)
{
	struct bf_net_attempt a = { .op = op };
	struct sock *sk = sock->sk;
	if (!sk)
		return 0;
	bool unspec_is_inet = op == BF_OP_SEND && sk->__sk_common.skc_family == BF_AF_INET;
	if (!bf_read_destination(uaddr, len, unspec_is_inet, &a))
		return 0;
	__u16 protocol = sk->sk_protocol;
	a.sock_protocol = protocol;
	a.protocol = bf_rules_protocol(protocol);
	return bf_net_decide(&a);
}

static __always_inline int bf_connect_decide(struct socket *sock, struct sockaddr *address, int addrlen)
{
	return bf_net_address_decide(sock, address, addrlen, BF_OP_CONNECT);
}

/* Only messages that carry an address: a connected socket's traffic was decided at connect. */
static __always_inline int bf_sendmsg_decide(struct socket *sock, struct msghdr *msg)
{
	void *name = msg->msg_name;
	if (!name)
		return 0;
	return bf_net_address_decide(sock, name, msg->msg_namelen, BF_OP_SEND);
}

/*
 * Sockets whose traffic no address rule sees into: raw and packet sockets, and protocols other
 * than TCP, MPTCP and UDP (SCTP, ping, VSOCK, ...). Local families stay open: Unix sockets,
 * netlink, the kernel's crypto sockets. Refused to confined tasks and, under default deny, to all.
 */
static __always_inline int bf_socket_decide(int family, int type, int protocol, int kern)
{
	if (kern || family == BF_AF_UNIX || family == BF_AF_NETLINK || family == BF_AF_ALG)
		return 0;
	int kind = type & BF_SOCK_TYPE_MASK;
	if (family == BF_AF_INET || family == BF_AF_INET6) {
		if (kind == BF_SOCK_STREAM && (protocol == 0 || protocol == BF_IPPROTO_TCP || protocol == BF_IPPROTO_MPTCP))
			return 0;
		if (kind == BF_SOCK_DGRAM && (protocol == 0 || protocol == BF_IPPROTO_UDP))
			return 0;
	}
	__u32 slot, generation;
	struct bf_net_policy *net = bf_net_in_force(&slot, &generation);
	if (!net)
		return 0;
	struct bf_net_attempt a = { .op = BF_OP_SOCKET, .arg = type, .family = family, .sock_protocol = protocol };
	struct task_struct *task = bpf_get_current_task_btf();
	struct bf_net_subject s = { .task = task, .t = bpf_task_storage_get(&bf_tasks_v5, task, 0, 0) };
	bool silent = true; /* the judge's report, not needed here: nothing is kept for a socket */
	return bf_net_judge(slot, generation, net, &a, ~0U, 0, true, &s, &silent);
}

#endif /* BF_NET_BPF_H */
