// Reaches a file the ways an attacker would, to prove each is decided on the protected inode.
//
//   reach plain|opath-reopen|handle FILE   open it; print its first line
//   reach io-uring FILE                     open it with an io_uring IORING_OP_OPENAT
//   reach truncate|chmod|chown|utimes FILE  change it without opening it
//   reach flood FILE N                      try N opens; print "<opened> opened, <denied> denied"
//   reach hold FILE                         open it, print "holding fd N", wait to be killed
//   reach getfd PID FD                      take descriptor FD of process PID (pidfd_getfd)
//   reach send-fd FILE SOCKET               open FILE, serve its descriptor once on SOCKET
//   reach recv-fd SOCKET                    receive a descriptor (SCM_RIGHTS) and read it
//   reach prctl-name NAME                   set and read back the thread name (prctl works)
//   reach swap-on-open DIR NEW FILE          once something opens DIR, rename NEW over FILE; print "swapped"
//   reach setxattr|removexattr FILE NAME   set ("planted") or remove an extended attribute
//   reach fexec PROG ARG0 ARGS...            run PROG through its descriptor (execveat, AT_EMPTY_PATH)
//   reach memfd-exec|tmpfile-exec|deleted-exec PROG ARG0 ARGS...
//                                           run a copy of PROG from a file with no name (fexecve)
//   reach setacl FILE                       set a POSIX ACL (system.posix_acl_access)
//   reach chattr-append FILE                set the append-only flag (FS_IOC_SETFLAGS) through a read-only descriptor
//   reach borrow-exe TRUSTED FILE           make TRUSTED this process's executable (prctl
//                                           PR_SET_MM_EXE_FILE), then open FILE
//
// Failures print "MODE: STEP: <strerror>" to stderr and exit 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/ioctl.h>
#include <sys/inotify.h>
#include <linux/fs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static const char *mode;

static int fail(const char *step)
{
	fprintf(stderr, "%s: %s: %s\n", mode, step, strerror(errno));
	return 1;
}

static int dump(int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return fail("read");
	buf[n] = 0;
	fputs(buf, stdout);
	return 0;
}

static int unix_socket(const char *path, struct sockaddr_un *addr)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	strncpy(addr->sun_path, path, sizeof(addr->sun_path) - 1);
	return s;
}

static int send_fd(const char *file, const char *sock)
{
	int fd = open(file, O_RDONLY);
	if (fd < 0)
		return fail("open");
	struct sockaddr_un addr;
	int s = unix_socket(sock, &addr);
	unlink(sock);
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 1) < 0)
		return fail("listen");
	printf("listening\n");
	fflush(stdout);
	int c = accept(s, NULL, NULL);
	if (c < 0)
		return fail("accept");
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(c, &msg, 0) < 0)
		return fail("sendmsg");
	return 0;
}

static int recv_fd(const char *sock)
{
	struct sockaddr_un addr;
	int s = unix_socket(sock, &addr);
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail("connect");
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	if (recvmsg(s, &msg, 0) < 0)
		return fail("recvmsg");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) {
		/* The kernel drops a descriptor that security_file_receive refuses (MSG_CTRUNC). */
		errno = EPERM;
		return fail(msg.msg_flags & MSG_CTRUNC ? "no descriptor received (MSG_CTRUNC)" : "no descriptor received");
	}
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return dump(fd);
}

/* One IORING_OP_OPENAT through a ring set up by hand (no liburing): the descriptor or -errno. */
static int io_uring_open(const char *file)
{
	struct io_uring_params p = { 0 };
	int ring = syscall(__NR_io_uring_setup, 2, &p);
	if (ring < 0)
		return -errno;
	size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(__u32);
	size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
	char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq
		: mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return -errno;
	memset(&sqes[0], 0, sizeof(sqes[0]));
	sqes[0].opcode = IORING_OP_OPENAT;
	sqes[0].fd = AT_FDCWD;
	sqes[0].addr = (unsigned long)file;
	sqes[0].open_flags = O_RDONLY;
	unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
	unsigned *mask = (unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *array = (unsigned *)(sq + p.sq_off.array);
	array[*tail & *mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned *head = (unsigned *)(cq + p.cq_off.head);
	unsigned *cmask = (unsigned *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	int res = cqes[__atomic_load_n(head, __ATOMIC_ACQUIRE) & *cmask].res;
	__atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
	return res;
}

/*
 * Copy PROG into a file with no name (a memfd, an O_TMPFILE file in /tmp, or a file deleted once
 * open) and execute it from its descriptor (fexecve: execveat with AT_EMPTY_PATH). The copy is
 * reopened read-only first: a program open for writing cannot be executed (ETXTBSY).
 */
static int fileless_exec(const char *prog, char **args)
{
	int w;
	if (!strcmp(mode, "memfd-exec"))
		w = memfd_create("fileless", 0);
	else if (!strcmp(mode, "tmpfile-exec"))
		w = open("/tmp", O_TMPFILE | O_RDWR, 0755);
	else
		w = open("/tmp/reach-deleted", O_CREAT | O_TRUNC | O_RDWR, 0755);
	if (w < 0)
		return fail("create");
	int src = open(prog, O_RDONLY);
	if (src < 0)
		return fail("open PROG");
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(w, buf, n) != n)
			return fail("write");
	close(src);
	fchmod(w, 0755);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w);
	int r = open(proc, O_RDONLY | O_CLOEXEC);
	if (r < 0)
		return fail("reopen");
	close(w);
	if (!strcmp(mode, "deleted-exec") && unlink("/tmp/reach-deleted") < 0)
		return fail("unlink");
	extern char **environ;
	fexecve(r, args, environ);
	return fail("fexecve");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of reach.c\n");
		return 2;
	}
	mode = argv[1];
	const char *file = argv[2];
	if (!strcmp(mode, "flood") && argc == 4) {
		long n = atol(argv[3]), opened = 0, denied = 0;
		for (long i = 0; i < n; i++) {
			int fd = open(file, O_RDONLY);
			if (fd >= 0) {
				opened++;
				close(fd);
			} else if (errno == EPERM) {
				denied++;
			}
		}
		printf("%ld opened, %ld denied\n", opened, denied);
		return 0;
	}
	if (!strcmp(mode, "plain")) {
		int fd = open(file, O_RDONLY);
		return fd < 0 ? fail("open") : dump(fd);
	}
	if (!strcmp(mode, "opath-reopen")) {
		/* O_PATH opens nothing; reopening it through /proc makes a real open. */
		int p = open(file, O_PATH);
		if (p < 0)
			return fail("open O_PATH");
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p);
		int fd = open(proc, O_RDONLY);
		return fd < 0 ? fail("reopen") : dump(fd);
	}
	if (!strcmp(mode, "handle")) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		h->handle_bytes = MAX_HANDLE_SZ;
		int mount_id;
		if (name_to_handle_at(AT_FDCWD, file, h, &mount_id, 0) < 0)
			return fail("name_to_handle_at");
		int fd = open_by_handle_at(open("/", O_RDONLY | O_DIRECTORY), h, O_RDONLY);
		return fd < 0 ? fail("open_by_handle_at") : dump(fd);
	}
	if (!strcmp(mode, "io-uring")) {
		int fd = io_uring_open(file);
		if (fd < 0) {
			errno = -fd;
			return fail("IORING_OP_OPENAT");
		}
		return dump(fd);
	}
	if (!strcmp(mode, "truncate"))
		return truncate(file, 0) < 0 ? fail("truncate") : 0;
	if (!strcmp(mode, "chmod"))
		return chmod(file, 0777) < 0 ? fail("chmod") : 0;
	if (!strcmp(mode, "chown"))
		return chown(file, 1000, 1000) < 0 ? fail("chown") : 0;
	if (!strcmp(mode, "utimes"))
		return utimensat(AT_FDCWD, file, NULL, 0) < 0 ? fail("utimensat") : 0;
	if (!strcmp(mode, "setxattr") && argc == 4)
		return setxattr(file, argv[3], "planted", 7, 0) < 0 ? fail("setxattr") : 0;
	if (!strcmp(mode, "removexattr") && argc == 4)
		return removexattr(file, argv[3]) < 0 ? fail("removexattr") : 0;
	if (!strcmp(mode, "fexec")) {
		/* execveat(fd, "", AT_EMPTY_PATH) of a program that has a name. */
		extern char **environ;
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("open");
		fexecve(fd, argv + 3, environ);
		return fail("fexecve");
	}
	if (!strcmp(mode, "memfd-exec") || !strcmp(mode, "tmpfile-exec") || !strcmp(mode, "deleted-exec"))
		return fileless_exec(file, argv + 3);
	if (!strcmp(mode, "setacl")) {
		/* A minimal POSIX ACL (user::rw- group::r-- other::r--), as setfacl writes it. */
		struct { uint32_t version; struct { uint16_t tag, perm; uint32_t id; } e[3]; } acl = {
			2, { { 0x01, 6, ~0u }, { 0x04, 4, ~0u }, { 0x20, 4, ~0u } } };
		return setxattr(file, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0 ? fail("setxattr system.posix_acl_access") : 0;
	}
	if (!strcmp(mode, "chattr-append")) {
		/* chattr +a through a descriptor opened for reading only. */
		int fd = open(file, O_RDONLY), flags = 0;
		if (fd < 0)
			return fail("open");
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
			return fail("FS_IOC_GETFLAGS");
		flags |= FS_APPEND_FL;
		return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? fail("FS_IOC_SETFLAGS") : 0;
	}
	if (!strcmp(mode, "hold")) {
		int fd = open(file, O_RDONLY);
		if (fd < 0)
			return fail("open");
		printf("holding fd %d\n", fd);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "getfd") && argc == 4) {
		int pidfd = syscall(SYS_pidfd_open, atoi(argv[2]), 0);
		if (pidfd < 0)
			return fail("pidfd_open");
		int fd = syscall(SYS_pidfd_getfd, pidfd, atoi(argv[3]), 0);
		return fd < 0 ? fail("pidfd_getfd") : dump(fd);
	}
	if (!strcmp(mode, "send-fd") && argc == 4)
		return send_fd(file, argv[3]);
	if (!strcmp(mode, "swap-on-open") && argc == 5) {
		int in = inotify_init1(IN_CLOEXEC);
		if (in < 0 || inotify_add_watch(in, argv[2], IN_OPEN) < 0)
			return fail("inotify");
		printf("watching\n");
		fflush(stdout);
		char ev[sizeof(struct inotify_event) + 256];
		if (read(in, ev, sizeof(ev)) <= 0)
			return fail("read inotify");
		if (rename(argv[3], argv[4]) < 0)
			return fail("rename");
		printf("swapped\n");
		return 0;
	}
	if (!strcmp(mode, "prctl-name")) {
		char name[16] = { 0 };
		if (prctl(PR_SET_NAME, argv[2], 0, 0, 0) < 0 || prctl(PR_GET_NAME, name, 0, 0, 0) < 0)
			return fail("prctl");
		printf("%s\n", name);
		return 0;
	}
	if (!strcmp(mode, "borrow-exe") && argc == 4) {
		int exe = open(argv[2], O_RDONLY);
		if (exe < 0)
			return fail("open trusted");
		if (prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, exe, 0, 0) < 0)
			return fail("prctl PR_SET_MM_EXE_FILE");
		int fd = open(argv[3], O_RDONLY);
		return fd < 0 ? fail("open") : dump(fd);
	}
	if (!strcmp(mode, "recv-fd"))
		return recv_fd(file);
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
