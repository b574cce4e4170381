// Loads empty.bpf.o, attaches every program whose hook this kernel has (as the agent does: some
// hooks exist only in newer kernels), prints "attached" and waits for SIGTERM.
// SIGTERM is blocked from the start and taken with sigwait: a signal sent the moment "attached" is
// read is kept pending, never lost between a flag test and pause() (a soak cycle once hung there
// until stop_bg's SIGKILL).
// Usage: empty-loader OBJECT
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &term, NULL))
		return 1;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!obj || !vmlinux) {
		fprintf(stderr, "empty-loader: cannot open %s or the kernel's BTF\n", argv[1]);
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		const char *sec = bpf_program__section_name(p);
		char stub[128];
		if (strncmp(sec, "lsm/", 4))
			continue;
		snprintf(stub, sizeof(stub), "bpf_lsm_%s", sec + 4);
		if (btf__find_by_name_kind(vmlinux, stub, BTF_KIND_FUNC) < 0)
			bpf_program__set_autoload(p, false);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "empty-loader: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__autoload(p))
			continue;
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "empty-loader: cannot attach %s\n", bpf_program__name(p));
			return 1;
		}
	}
	printf("attached\n");
	fflush(stdout);
	int sig;
	return sigwait(&term, &sig) ? 1 : 0;
}
