// An attacker's library, loaded into a program through LD_PRELOAD or LD_AUDIT: its constructor
// reads the file EVIL_FILE names with the program's identity and prints what it got on stderr,
// "PRELOADED: <first line>" or "PRELOADED: <error>". A program in secure-execution mode never
// loads it, so nothing is printed.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void evil(void)
{
	const char *file = getenv("EVIL_FILE");
	if (!file)
		file = "/dev/null";
	char buf[128] = "";
	int fd = open(file, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "PRELOADED: %s\n", strerror(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	fprintf(stderr, "PRELOADED: %s\n", buf);
	close(fd);
}

/* rtld-audit(7): an audit library must say which interface version it speaks. */
unsigned int la_version(unsigned int version)
{
	return version;
}
