// Strikes at a process the ways an attacker would try to stop, pause or read the agent.
//
//   strike tgkill PID SIG       tgkill every thread of PID; print "<sent> sent, <refused> refused"
//   strike pidfd-kill PID SIG   pidfd_open + pidfd_send_signal
//   strike sigio PID SIG        make PID the owner of a pipe with O_ASYNC and F_SETSIG SIG, then
//                               write to it so the kernel signals PID (F_SETOWN/F_SETSIG)
//   strike prlimit PID          lower PID's RLIMIT_CPU to one second (prlimit)
//   strike ptrace PID           PTRACE_ATTACH, then detach
//   strike seize PID            PTRACE_SEIZE, then detach
//   strike vmread PID           process_vm_readv of one word of PID (the same address here and in a
//                               fork of this program; any address for a refusal)
//   strike traceme-exec PROG... run PROG traced from its start (PTRACE_TRACEME), print its exit status
//   strike child                fork a child that waits, print its pid (for the legitimate cases)
//   strike bpf-ids              walk every map, program and link id the kernel has (GET_NEXT_ID)
//                               and ask for a descriptor of each (GET_FD_BY_ID); print
//                               "maps R/O progs R/O links R/O": refused with EPERM / opened
//
// Failures print "MODE: STEP: <strerror>" to stderr and exit 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *mode;
static long word = 0x62666d6f6e6b6579; /* read by vmread */

static int fail(const char *step)
{
	fprintf(stderr, "%s: %s: %s\n", mode, step, strerror(errno));
	return 1;
}

static int tgkill_all(pid_t pid, int sig)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return fail("opendir");
	int sent = 0, refused = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		pid_t tid = atoi(e->d_name);
		if (syscall(SYS_tgkill, pid, tid, sig) == 0)
			sent++;
		else if (errno == EPERM)
			refused++;
	}
	closedir(d);
	printf("%d sent, %d refused\n", sent, refused);
	return 0;
}

static int traceme_exec(char **argv)
{
	pid_t child = fork();
	if (child < 0)
		return fail("fork");
	if (child == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
			_exit(fail("PTRACE_TRACEME"));
		execv(argv[0], argv);
		_exit(fail("execv"));
	}
	int status;
	for (;;) {
		if (waitpid(child, &status, 0) < 0)
			return fail("waitpid");
		if (WIFEXITED(status)) {
			printf("exit %d\n", WEXITSTATUS(status));
			return 0;
		}
		if (WIFSIGNALED(status)) {
			printf("killed by signal %d\n", WTERMSIG(status));
			return 0;
		}
		int sig = WIFSTOPPED(status) && WSTOPSIG(status) != SIGTRAP ? WSTOPSIG(status) : 0;
		ptrace(PTRACE_CONT, child, 0, sig);
	}
}

static int bpf_cmd(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Every id of one kind: how many descriptors were refused (EPERM) and how many were opened. */
static void walk_ids(int next_cmd, int get_cmd, int *refused, int *opened)
{
	__u32 id = 0;
	*refused = *opened = 0;
	for (;;) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.start_id = id;
		if (bpf_cmd(next_cmd, &a) < 0)
			return;
		id = a.next_id;
		memset(&a, 0, sizeof(a));
		a.map_id = id; /* map_id, prog_id and link_id share this place */
		int fd = bpf_cmd(get_cmd, &a);
		if (fd >= 0) {
			(*opened)++;
			close(fd);
		} else if (errno == EPERM) {
			(*refused)++;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: see the comment at the top of strike.c\n");
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "child")) {
		pid_t child = fork();
		if (child == 0) {
			/* Let go of the caller's pipes: $(strike child) returns once the pid is printed. */
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			pause();
			_exit(0);
		}
		printf("%d\n", child);
		return 0;
	}
	if (!strcmp(mode, "bpf-ids")) {
		int mr, mo, pr, po, lr, lo;
		walk_ids(BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID, &mr, &mo);
		walk_ids(BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID, &pr, &po);
		walk_ids(BPF_LINK_GET_NEXT_ID, BPF_LINK_GET_FD_BY_ID, &lr, &lo);
		printf("maps %d/%d progs %d/%d links %d/%d\n", mr, mo, pr, po, lr, lo);
		return 0;
	}
	if (!strcmp(mode, "traceme-exec") && argc >= 3)
		return traceme_exec(argv + 2);
	if (argc < 3) {
		fprintf(stderr, "%s: which process?\n", mode);
		return 2;
	}
	pid_t pid = atoi(argv[2]);
	int sig = argc > 3 ? atoi(argv[3]) : SIGKILL;
	if (!strcmp(mode, "tgkill"))
		return tgkill_all(pid, sig);
	if (!strcmp(mode, "pidfd-kill")) {
		int pidfd = syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			return fail("pidfd_open");
		if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
			return fail("pidfd_send_signal");
		puts("sent");
		return 0;
	}
	if (!strcmp(mode, "sigio")) {
		int p[2];
		if (pipe(p) < 0)
			return fail("pipe");
		if (fcntl(p[0], F_SETOWN, pid) < 0)
			return fail("F_SETOWN");
		if (fcntl(p[0], F_SETSIG, sig) < 0)
			return fail("F_SETSIG");
		if (fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK) < 0)
			return fail("O_ASYNC");
		if (write(p[1], "x", 1) != 1)
			return fail("write");
		puts("triggered");
		return 0;
	}
	if (!strcmp(mode, "prlimit")) {
		struct rlimit r = { 1, 1 };
		if (prlimit(pid, RLIMIT_CPU, &r, NULL) < 0)
			return fail("prlimit");
		puts("set");
		return 0;
	}
	if (!strcmp(mode, "ptrace") || !strcmp(mode, "seize")) {
		if (ptrace(!strcmp(mode, "ptrace") ? PTRACE_ATTACH : PTRACE_SEIZE, pid, 0, 0) < 0)
			return fail(mode);
		if (!strcmp(mode, "ptrace"))
			waitpid(pid, NULL, __WALL);
		ptrace(PTRACE_DETACH, pid, 0, 0);
		puts("attached");
		return 0;
	}
	if (!strcmp(mode, "vmread")) {
		long got = 0;
		struct iovec local = { &got, sizeof(got) }, remote = { &word, sizeof(word) };
		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0)
			return fail("process_vm_readv");
		printf("read %lx\n", got);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
