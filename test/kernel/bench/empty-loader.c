// Loads empty.bpf.o, attaches every program, prints "attached" and waits for SIGTERM.
// Usage: empty-loader OBJECT
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "empty-loader: cannot load %s\n", argv[1]);
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "empty-loader: cannot attach %s\n", bpf_program__name(p));
			return 1;
		}
	}
	signal(SIGTERM, on_term);
	printf("attached\n");
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
