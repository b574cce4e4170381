// Sends traffic out of the host every way a process can, so a refusal (EPERM) can be told apart
// from an ordinary network error.
//
//   egress connect tcp|udp|mptcp ADDR PORT  socket() then connect()
//   egress sendto ADDR PORT                 unconnected UDP socket, sendto() of "x"
//   egress sendmsg ADDR PORT                unconnected UDP socket, sendmsg() with msg_name
//   egress sendto-unspec ADDR PORT          unconnected IPv4 UDP socket, sendto() with the address's
//                                           family set to AF_UNSPEC (the kernel takes it as AF_INET)
//   egress sendmmsg ADDR PORT               unconnected UDP socket, sendmmsg() of 2 messages, each
//                                           with msg_name (the first error, or ok when both went)
//   egress tfo ADDR PORT                    TCP socket, sendto(MSG_FASTOPEN, ADDR) without connect
//   egress tfo-connect ADDR PORT            TCP socket, setsockopt(TCP_FASTOPEN_CONNECT), connect()
//   egress uring-connect ADDR PORT          TCP socket, IORING_OP_CONNECT through io_uring
//   egress uring-sendmsg ADDR PORT          unconnected UDP socket, IORING_OP_SENDMSG with msg_name
//   egress raw                              socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
//   egress raw6                             socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
//   egress packet                           socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))
//   egress sctp ADDR PORT                   socket(SOCK_STREAM, IPPROTO_SCTP) then connect()
//   egress listen tcp|udp ADDR PORT         bind (and listen), print "listening", then serve forever:
//                                           accept and close each connection / discard datagrams
//   egress connect-then-send ADDR PORT      UDP socket, connect() then send() without an address
//   egress after FILE MODE ARGS...           wait until FILE exists, then do MODE ARGS... (a process
//                                           started before the agent, acting after it started)
//   egress again FILE MODE ARGS...           do MODE ARGS..., wait until FILE exists, do it again: the
//                                           same task twice, across a change (of policy generation)
//   egress then-exec MODE ARGS... -- PROG ARGS...  do MODE ARGS..., then exec PROG (the same task
//                                           as another program)
//   egress read FILE                        open FILE for reading and print its content (programs
//                                           the example policies name read files too)
//   egress write FILE TEXT                  open FILE for writing (truncated, created) and write TEXT
//   egress dns-serve ADDR PORT ZONE         a DNS server over UDP: answers A and AAAA questions from
//                                           ZONE, read again for each question (lines "NAME A|AAAA
//                                           ADDRESS TTL"); prints "listening" once bound
//
// ADDR is numeric: IPv4 ("127.0.0.2"), or IPv6 when it holds a ':' ("::1", "::ffff:127.0.0.2").
//
// Prints one line per step attempted, "<step> ok" or "<step> <ERRNO_NAME>" (socket EPERM, connect
// ECONNREFUSED...), and stops after the first failed step. The steps: socket, setsockopt, connect,
// sendto, sendmsg, sendmmsg, send, uring (the io_uring operation's own result), and bind and listen
// for the listen mode. A connect (or MSG_FASTOPEN) that does not finish within 2 seconds is
// ETIMEDOUT. Exits 0 once the operation was attempted, whatever its result; 2 on a usage error or
// when io_uring itself cannot be set up (the reason on stderr).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

#define TIMEOUT_SECONDS 2

static const char *mode;
static volatile sig_atomic_t timed_out; /* the backstop alarm went off */

static const char *errno_name(int err)
{
#define E(x) { x, #x }
	static const struct { int err; const char *name; } names[] = {
		E(EPERM), E(EACCES), E(ECONNREFUSED), E(ENETUNREACH), E(EHOSTUNREACH), E(EINPROGRESS),
		E(EAFNOSUPPORT), E(EPROTONOSUPPORT), E(ETIMEDOUT), E(EINVAL), E(EADDRNOTAVAIL), E(ENOENT),
		E(EOPNOTSUPP), E(ENOPROTOOPT), E(ESOCKTNOSUPPORT), E(EPROTOTYPE), E(EADDRINUSE),
		E(ECONNRESET), E(ECONNABORTED), E(ENETDOWN), E(EHOSTDOWN), E(EALREADY), E(EISCONN),
		E(ENOTCONN), E(EDESTADDRREQ), E(EMSGSIZE), E(EAGAIN), E(EINTR), E(ENOBUFS), E(ENOMEM),
		E(EPIPE), E(EBADF), E(EFAULT), E(ENOTSOCK), E(EMFILE), E(ENFILE), E(ENODEV), E(ENXIO),
		E(ENOSYS), E(ECANCELED), E(ETIME), E(EBUSY), E(ENOTSUP),
	};
#undef E
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	static char other[16];
	snprintf(other, sizeof(other), "E%d", err);
	return other;
}

/* Prints the step's line; returns err (0: the step worked, go on). */
static int report(const char *step, int err)
{
	if (err)
		printf("%s %s\n", step, errno_name(err));
	else
		printf("%s ok\n", step);
	fflush(stdout);
	return err;
}

/* The step's line for a system call's return value (-1 and errno on failure). */
static int check(const char *step, long rc)
{
	return report(step, rc < 0 ? errno : 0);
}

/* A connect (or MSG_FASTOPEN send) that gave up waiting: EINPROGRESS after SO_SNDTIMEO, or
 * EINTR from the backstop alarm. Its own synchronous errors pass through. */
static int timed(long rc)
{
	if (rc >= 0)
		return 0;
	if (errno == EINPROGRESS || (errno == EINTR && timed_out))
		return ETIMEDOUT;
	return errno;
}

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of egress.c\n");
	return 2;
}

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

/* ADDR PORT into *ss: AF_INET6 when ADDR holds a ':', AF_INET otherwise. 0, or -1 when malformed. */
static int parse_addr(const char *addr, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p);
		*len = sizeof(*s6);
		return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(p);
	*len = sizeof(*s4);
	return inet_pton(AF_INET, addr, &s4->sin_addr) == 1 ? 0 : -1;
}

/* socket(), its line printed; the descriptor, or -1 when refused. Sends and connects on it give up
 * after TIMEOUT_SECONDS (SO_SNDTIMEO). */
static int open_socket(int family, int type, int protocol)
{
	int s = socket(family, type, protocol);
	if (check("socket", s))
		return -1;
	struct timeval tv = { .tv_sec = TIMEOUT_SECONDS };
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return s;
}

/* A ring set up by hand (no liburing), as in reach.c's io_uring_open. */
struct ring {
	int fd;
	struct io_uring_params p;
	char *sq, *cq;
	struct io_uring_sqe *sqes;
};

static int ring_setup(struct ring *r)
{
	memset(&r->p, 0, sizeof(r->p));
	r->fd = syscall(__NR_io_uring_setup, 2, &r->p);
	if (r->fd < 0)
		return -errno;
	size_t sq_size = r->p.sq_off.array + r->p.sq_entries * sizeof(__u32);
	size_t cq_size = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
	if (r->p.features & IORING_FEAT_SINGLE_MMAP)
		sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
	r->sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	r->cq = (r->p.features & IORING_FEAT_SINGLE_MMAP) ? r->sq
		: mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -errno;
	return 0;
}

/*
 * Runs one operation, linked to a TIMEOUT_SECONDS IORING_OP_LINK_TIMEOUT so that a connect to an
 * address that never answers cannot hang. Returns its CQE's res (-errno on failure; the timeout
 * cancelling it is -ETIMEDOUT), or sets *enter_errno when io_uring_enter itself fails.
 */
static int ring_run(struct ring *r, const struct io_uring_sqe *op, int *enter_errno)
{
	static struct __kernel_timespec ts = { .tv_sec = TIMEOUT_SECONDS };
	r->sqes[0] = *op;
	r->sqes[0].flags |= IOSQE_IO_LINK;
	r->sqes[0].user_data = 1;
	memset(&r->sqes[1], 0, sizeof(r->sqes[1]));
	r->sqes[1].opcode = IORING_OP_LINK_TIMEOUT;
	r->sqes[1].fd = -1;
	r->sqes[1].addr = (unsigned long)&ts;
	r->sqes[1].len = 1;
	r->sqes[1].user_data = 2;
	unsigned *tail = (unsigned *)(r->sq + r->p.sq_off.tail);
	unsigned *mask = (unsigned *)(r->sq + r->p.sq_off.ring_mask);
	unsigned *array = (unsigned *)(r->sq + r->p.sq_off.array);
	unsigned t = *tail;
	array[t & *mask] = 0;
	array[(t + 1) & *mask] = 1;
	__atomic_store_n(tail, t + 2, __ATOMIC_RELEASE);
	unsigned *head = (unsigned *)(r->cq + r->p.cq_off.head);
	unsigned *ctail = (unsigned *)(r->cq + r->p.cq_off.tail);
	unsigned *cmask = (unsigned *)(r->cq + r->p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(r->cq + r->p.cq_off.cqes);
	unsigned to_submit = 2;
	for (;;) {
		if (syscall(__NR_io_uring_enter, r->fd, to_submit, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
			if (errno == EINTR && timed_out)
				return -ETIMEDOUT;
			if (errno != EINTR) {
				*enter_errno = errno;
				return 0;
			}
		} else {
			to_submit = 0;
		}
		unsigned h = __atomic_load_n(head, __ATOMIC_ACQUIRE);
		unsigned end = __atomic_load_n(ctail, __ATOMIC_ACQUIRE);
		for (; h != end; h++) {
			struct io_uring_cqe *cqe = &cqes[h & *cmask];
			if (cqe->user_data == 1) {
				__atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
				return cqe->res == -ECANCELED ? -ETIMEDOUT : cqe->res;
			}
		}
		__atomic_store_n(head, h, __ATOMIC_RELEASE);
	}
}

/* The uring-* modes: the ring first (a ring that cannot be had is a usage failure, exit 2). */
static int uring(const struct sockaddr_storage *ss, socklen_t len)
{
	struct ring r;
	int err = ring_setup(&r);
	if (err < 0) {
		fprintf(stderr, "%s: io_uring setup: %s\n", mode, strerror(-err));
		return 2;
	}
	int connect_mode = !strcmp(mode, "uring-connect");
	int s = open_socket(ss->ss_family, connect_mode ? SOCK_STREAM : SOCK_DGRAM,
			    connect_mode ? IPPROTO_TCP : IPPROTO_UDP);
	if (s < 0)
		return 0;
	struct io_uring_sqe op = { 0 };
	op.fd = s;
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_name = (void *)ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
	if (connect_mode) {
		op.opcode = IORING_OP_CONNECT;
		op.addr = (unsigned long)ss;
		op.off = len;
	} else {
		op.opcode = IORING_OP_SENDMSG;
		op.addr = (unsigned long)&msg;
		op.len = 1;
		op.msg_flags = MSG_NOSIGNAL;
	}
	int enter_errno = 0;
	int res = ring_run(&r, &op, &enter_errno);
	if (enter_errno) {
		fprintf(stderr, "%s: io_uring_enter: %s\n", mode, strerror(enter_errno));
		return 2;
	}
	report("uring", res < 0 ? -res : 0);
	return 0;
}

static int serve(int tcp, const struct sockaddr_storage *ss, socklen_t len)
{
	int s = open_socket(ss->ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (s < 0)
		return 0;
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (check("bind", bind(s, (const struct sockaddr *)ss, len)))
		return 0;
	if (tcp && check("listen", listen(s, 64)))
		return 0;
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		if (tcp) {
			int c = accept(s, NULL, NULL);
			if (c >= 0) {
				close(c);
				continue;
			}
		} else {
			char buf[65536];
			if (recv(s, buf, sizeof(buf), 0) >= 0)
				continue;
		}
		usleep(100000); /* a refused accept/recv fails at once: do not spin */
	}
}

/* The records of ZONE for name and type (1: A, 28: AAAA) appended to the answer at out; their count. */
static int zone_answers(const char *zone, const char *name, int type, unsigned char *out, size_t *used, size_t room)
{
	FILE *f = fopen(zone, "r");
	if (!f)
		return 0;
	char line[512], rname[256], rtype[8], raddr[64];
	unsigned ttl;
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %7s %63s %u", rname, rtype, raddr, &ttl) != 4 || strcasecmp(rname, name))
			continue;
		int t = !strcmp(rtype, "A") ? 1 : !strcmp(rtype, "AAAA") ? 28 : 0;
		int size = t == 1 ? 4 : 16;
		if (t != type || *used + 12 + size > room)
			continue;
		unsigned char *r = out + *used;
		r[0] = 0xc0; /* the name: a pointer to the question's */
		r[1] = 12;
		r[2] = 0;
		r[3] = t;
		r[4] = 0;
		r[5] = 1; /* IN */
		r[6] = ttl >> 24;
		r[7] = ttl >> 16;
		r[8] = ttl >> 8;
		r[9] = ttl;
		r[10] = 0;
		r[11] = size;
		if (inet_pton(t == 1 ? AF_INET : AF_INET6, raddr, r + 12) != 1)
			continue;
		*used += 12 + size;
		n++;
	}
	fclose(f);
	return n;
}

static int dns_serve(const struct sockaddr_storage *ss, socklen_t len, const char *zone)
{
	int s = socket(ss->ss_family, SOCK_DGRAM, 0);
	if (check("socket", s) || check("bind", bind(s, (const struct sockaddr *)ss, len)))
		return 0;
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		unsigned char q[512], a[1024];
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(s, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		if (n < 12)
			continue;
		/* The question's name, as text. */
		char name[256];
		size_t i = 12, o = 0;
		while (i < (size_t)n && q[i] && o + q[i] + 1 < sizeof(name)) {
			if (o)
				name[o++] = '.';
			memcpy(name + o, q + i + 1, q[i]);
			o += q[i];
			i += q[i] + 1;
		}
		name[o] = 0;
		if (i + 5 > (size_t)n)
			continue;
		int type = q[i + 1] << 8 | q[i + 2];
		size_t used = i + 5; /* header and question, copied */
		memcpy(a, q, used);
		int count = zone_answers(zone, name, type, a, &used, sizeof(a));
		a[2] = 0x81; /* a response, recursion desired */
		a[3] = 0x80; /* recursion available, no error */
		a[6] = 0;
		a[7] = count;
		a[8] = a[9] = a[10] = a[11] = 0;
		sendto(s, a, used, 0, (struct sockaddr *)&from, flen);
	}
}

/* One MODE ARGS... (argv[1] is MODE). */
static int act(int argc, char **argv)
{
	mode = argv[1];
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(mode, "read") || !strcmp(mode, "write")) {
		int reading = !strcmp(mode, "read");
		if (argc != (reading ? 3 : 4))
			return usage();
		int fd = open(argv[2], reading ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (check("open", fd))
			return 0;
		if (!reading)
			return check("write", write(fd, argv[3], strlen(argv[3]))), 0;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0)
			printf("%.*s%s", (int)n, buf, buf[n - 1] == '\n' ? "" : "\n");
		return check("read", n), 0;
	}

	if (!strcmp(mode, "raw") || !strcmp(mode, "raw6") || !strcmp(mode, "packet")) {
		if (argc != 2)
			return usage();
		int s = !strcmp(mode, "raw") ? socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
			: !strcmp(mode, "raw6") ? socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
			: socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		check("socket", s);
		return 0;
	}

	if (!strcmp(mode, "dns-serve")) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (argc != 5 || parse_addr(argv[2], argv[3], &ss, &len) < 0)
			return usage();
		return dns_serve(&ss, len, argv[4]);
	}

	/* "connect PROTO ADDR PORT" and "listen PROTO ADDR PORT" take a protocol first. */
	int with_proto = !strcmp(mode, "connect") || !strcmp(mode, "listen");
	if (argc != (with_proto ? 5 : 4))
		return usage();
	const char *proto = with_proto ? argv[2] : NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_addr(argv[with_proto ? 3 : 2], argv[with_proto ? 4 : 3], &ss, &len) < 0)
		return usage();
	const struct sockaddr *sa = (const struct sockaddr *)&ss;
	int family = ss.ss_family;

	if (!strcmp(mode, "listen")) {
		if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
			return usage();
		return serve(!strcmp(proto, "tcp"), &ss, len);
	}

	/* A backstop past SO_SNDTIMEO: no handler restarts, so a call still waiting fails with EINTR. */
	struct sigaction act = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &act, NULL);
	alarm(TIMEOUT_SECONDS + 1);

	if (!strncmp(mode, "uring-", 6)) {
		if (strcmp(mode, "uring-connect") && strcmp(mode, "uring-sendmsg"))
			return usage();
		return uring(&ss, len);
	}

	int s;
	char byte = 'x';
	if (!strcmp(mode, "connect") || !strcmp(mode, "sctp")) {
		int type = SOCK_STREAM, protocol;
		if (!strcmp(mode, "sctp"))
			protocol = IPPROTO_SCTP;
		else if (!strcmp(proto, "tcp"))
			protocol = IPPROTO_TCP;
		else if (!strcmp(proto, "mptcp"))
			protocol = IPPROTO_MPTCP;
		else if (!strcmp(proto, "udp"))
			type = SOCK_DGRAM, protocol = IPPROTO_UDP;
		else
			return usage();
		if ((s = open_socket(family, type, protocol)) < 0)
			return 0;
		report("connect", timed(connect(s, sa, len)));
		return 0;
	}
	if (!strcmp(mode, "tfo")) {
		if ((s = open_socket(family, SOCK_STREAM, IPPROTO_TCP)) < 0)
			return 0;
		report("sendto", timed(sendto(s, &byte, 1, MSG_FASTOPEN | MSG_NOSIGNAL, sa, len)));
		return 0;
	}
	if (!strcmp(mode, "tfo-connect")) {
		int one = 1;
		if ((s = open_socket(family, SOCK_STREAM, IPPROTO_TCP)) < 0 ||
		    check("setsockopt", setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one))))
			return 0;
		report("connect", timed(connect(s, sa, len)));
		return 0;
	}
	if (!strcmp(mode, "connect-then-send")) {
		if ((s = open_socket(family, SOCK_DGRAM, IPPROTO_UDP)) < 0 || check("connect", connect(s, sa, len)))
			return 0;
		check("send", send(s, &byte, 1, MSG_NOSIGNAL));
		return 0;
	}
	if (!strcmp(mode, "sendto") || !strcmp(mode, "sendmsg") || !strcmp(mode, "sendmmsg") || !strcmp(mode, "sendto-unspec")) {
		if ((s = open_socket(family, SOCK_DGRAM, IPPROTO_UDP)) < 0)
			return 0;
		if (!strcmp(mode, "sendto")) {
			check("sendto", sendto(s, &byte, 1, MSG_NOSIGNAL, sa, len));
			return 0;
		}
		if (!strcmp(mode, "sendto-unspec")) {
			/* An IPv4 UDP socket sends to an AF_UNSPEC address as to AF_INET (udp_sendmsg). */
			ss.ss_family = AF_UNSPEC;
			check("sendto", sendto(s, &byte, 1, MSG_NOSIGNAL, sa, len));
			return 0;
		}
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct mmsghdr msgs[2];
		memset(msgs, 0, sizeof(msgs));
		for (int i = 0; i < 2; i++) {
			msgs[i].msg_hdr.msg_name = &ss;
			msgs[i].msg_hdr.msg_namelen = len;
			msgs[i].msg_hdr.msg_iov = &iov;
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		if (!strcmp(mode, "sendmsg")) {
			check("sendmsg", sendmsg(s, &msgs[0].msg_hdr, MSG_NOSIGNAL));
			return 0;
		}
		/* sendmmsg reports an error only when nothing went: send what is left again to learn it. */
		int sent = 0, n = 0;
		while (sent < 2 && (n = sendmmsg(s, msgs + sent, 2 - sent, MSG_NOSIGNAL)) > 0)
			sent += n;
		check("sendmmsg", sent == 2 ? 0 : n < 0 ? -1 : (errno = EIO, -1));
		return 0;
	}
	return usage();
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "after") || !strcmp(argv[1], "again")) {
		if (argc < 4)
			return usage();
		if (!strcmp(argv[1], "again")) {
			int rc = act(argc - 2, argv + 2);
			if (rc)
				return rc;
			fflush(stdout);
		}
		while (access(argv[2], F_OK) != 0)
			usleep(50000);
		argv += 2;
		argc -= 2;
	}
	if (!strcmp(argv[1], "then-exec")) {
		int sep = 2;
		while (sep < argc && strcmp(argv[sep], "--"))
			sep++;
		if (sep < 3 || sep + 1 >= argc)
			return usage();
		argv[sep] = NULL;
		int rc = act(sep - 1, argv + 1);
		if (rc)
			return rc;
		fflush(stdout);
		execv(argv[sep + 1], argv + sep + 1);
		perror("execv");
		return 2;
	}
	return act(argc, argv);
}
