// Opens a file the ways an attacker would try, to prove each lands on the same protected inode.
// Usage: reach MODE FILE      MODE: plain | opath-reopen | handle
// Prints the file's first line on success; on failure prints "MODE: <strerror>" to stderr, exit 1.
// Usage: reach flood FILE N   tries N opens; prints "<opened> opened, <denied> denied".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *mode, const char *step)
{
	fprintf(stderr, "%s: %s: %s\n", mode, step, strerror(errno));
	return 1;
}

static int dump(int fd)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return fail("read", "read");
	buf[n] = 0;
	fputs(buf, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "flood")) {
		long n = atol(argv[3]), opened = 0, denied = 0;
		for (long i = 0; i < n; i++) {
			int fd = open(argv[2], O_RDONLY);
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
	if (argc != 3) {
		fprintf(stderr, "usage: reach plain|opath-reopen|handle FILE\n");
		return 2;
	}
	const char *mode = argv[1], *file = argv[2];
	int fd = -1;
	if (!strcmp(mode, "plain")) {
		fd = open(file, O_RDONLY);
		if (fd < 0)
			return fail(mode, "open");
	} else if (!strcmp(mode, "opath-reopen")) {
		/* O_PATH opens nothing; reopening it through /proc makes a real open. */
		int p = open(file, O_PATH);
		if (p < 0)
			return fail(mode, "open O_PATH");
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p);
		fd = open(proc, O_RDONLY);
		if (fd < 0)
			return fail(mode, "reopen");
	} else if (!strcmp(mode, "handle")) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		h->handle_bytes = MAX_HANDLE_SZ;
		int mount_id;
		if (name_to_handle_at(AT_FDCWD, file, h, &mount_id, 0) < 0)
			return fail(mode, "name_to_handle_at");
		int mfd = open("/", O_RDONLY | O_DIRECTORY);
		fd = open_by_handle_at(mfd, h, O_RDONLY);
		if (fd < 0)
			return fail(mode, "open_by_handle_at");
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	return dump(fd);
}
