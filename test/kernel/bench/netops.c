// Times the network calls the agent decides, for the bench: TCP connect (a new socket each time,
// to a loopback port nothing listens on: the peer refuses, the hooks decided first) and UDP sendto
// without connect (one socket). Prints nanoseconds per operation.
// PORT may be two ports, "A,B": each call then goes to the other one (the agent keeps a task's
// last destination, net.bpf.h: alternating, every call is decided in full).
// Usage: netops tcp|udp ADDR PORT[,PORT] ITERATIONS   (ADDR: IPv4)
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
		fprintf(stderr, "usage: %s tcp|udp ADDR PORT[,PORT] ITERATIONS\n", argv[0]);
		return 2;
	}
	struct sockaddr_in to[2] = { { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) } };
	if (inet_pton(AF_INET, argv[2], &to[0].sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[2]);
		return 2;
	}
	const char *comma = strchr(argv[3], ',');
	to[1] = to[0]; /* the same address; the second port when one is given */
	if (comma)
		to[1].sin_port = htons(atoi(comma + 1));
	long n = atol(argv[4]);
	int tcp = !strcmp(argv[1], "tcp");
	int udp = tcp ? -1 : socket(AF_INET, SOCK_DGRAM, 0);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		struct sockaddr_in sin = to[i & 1];
		if (tcp) {
			int s = socket(AF_INET, SOCK_STREAM, 0);
			if (s < 0 || (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != ECONNREFUSED)) {
				perror("connect");
				return 1;
			}
			close(s);
		} else if (sendto(udp, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != ECONNREFUSED) {
			perror("sendto");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
