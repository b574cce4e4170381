// SPDX-License-Identifier: Apache-2.0
/*
 * The native half of Bomfather: a thin, synchronous C API over libbpf that bun:ffi calls.
 *
 * Rules of this file:
 * - every function returns >= 0 on success and a negative errno on failure;
 * - no callbacks into JavaScript and no threads: the agent calls in, gets an answer, goes on;
 *   one exception, the waker (bf_waker_*): a thread that only waits for a descriptor to become
 *   readable and then wakes the agent's event loop, so that an idle agent answers a request at
 *   once instead of at its next idle tick;
 * - data crosses the boundary in buffers owned by the caller (JavaScript);
 * - libbpf's messages (verifier logs included) are kept in a buffer that bf_last_log() copies out.
 *
 * Objects and ring buffers are named by small integer handles, not pointers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/fsverity.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "../bpf/bomfather.h"

/* Bumped whenever a signature below changes; ffi/shim.ts checks it at start-up. */
#define BF_SHIM_ABI 11

/* bf_probe_inodes: a kind's flag for a path on a stacked file system (ffi/shim.ts PROBE_STACKED). */
#define BF_PROBE_STACKED 0x100
/* bf_probe_inodes: a kind's flag for a path whose last component is a symbolic link (ffi/shim.ts PROBE_LINK). */
#define BF_PROBE_LINK 0x200
/* bf_probe_inodes: values per path (ffi/shim.ts PROBE_STRIDE). */
#define BF_PROBE_STRIDE 4

#define BF_MAX_OBJECTS 8
#define BF_MAX_LINKS 64
#define BF_LOG_SIZE (64 * 1024)
#define BF_STASH_SIZE 4096

/* The shape of a map-in-map's inner maps; libbpf frees its template once the object is loaded. */
struct bf_inner_spec {
	char outer[64]; /* the outer map's name in the object (map names in the kernel are cut at 15) */
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries, flags;
};

#define BF_MAX_INNER 8

struct bf_object {
	struct bpf_object *obj;
	struct bpf_link *links[BF_MAX_LINKS];
	int nlinks;
	struct bf_inner_spec inner[BF_MAX_INNER];
	int ninner;
};

static struct bf_object objects[BF_MAX_OBJECTS];

/* ------------------------------------------------------------------ libbpf log */

static char log_buf[BF_LOG_SIZE];
static size_t log_len;

static int log_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (log_len >= BF_LOG_SIZE - 1) {
		/* Keep the tail: verifier logs end with the reason. */
		memmove(log_buf, log_buf + BF_LOG_SIZE / 2, BF_LOG_SIZE / 2);
		log_len = BF_LOG_SIZE / 2;
	}
	int n = vsnprintf(log_buf + log_len, BF_LOG_SIZE - log_len, fmt, args);
	if (n > 0)
		log_len += (size_t)n < BF_LOG_SIZE - log_len ? (size_t)n : BF_LOG_SIZE - log_len - 1;
	return n;
}

int bf_abi(void)
{
	libbpf_set_print(log_print);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	return BF_SHIM_ABI;
}

/* Copy the collected libbpf messages into buf (NUL-terminated) and forget them. */
int bf_last_log(char *buf, uint32_t len)
{
	if (!buf || len == 0)
		return -EINVAL;
	size_t n = log_len < len - 1 ? log_len : len - 1;
	/* Keep the end: that is where libbpf and the verifier say what went wrong. */
	memcpy(buf, log_buf + (log_len - n), n);
	buf[n] = 0;
	log_len = 0;
	return (int)n;
}

/* CPUs a per-CPU map holds a value for. */
int bf_num_possible_cpus(void)
{
	return libbpf_num_possible_cpus();
}

uint64_t bf_boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The fs-verity digest of the open file fd, as the kernel records it (FS_IOC_MEASURE_VERITY):
 * writes up to cap bytes of it to out and returns algorithm << 16 | size; negative errno otherwise
 * (-ENODATA: the file has no fs-verity; -ENOTTY or -EOPNOTSUPP: its file system has none).
 */
int bf_measure_verity(int fd, uint8_t *out, uint32_t cap)
{
	struct {
		struct fsverity_digest d;
		uint8_t bytes[64];
	} m = { .d.digest_size = sizeof(m.bytes) };
	if (ioctl(fd, FS_IOC_MEASURE_VERITY, &m) < 0)
		return -errno;
	memcpy(out, m.d.digest, m.d.digest_size < cap ? m.d.digest_size : cap);
	return (int)m.d.digest_algorithm << 16 | m.d.digest_size;
}

/* ------------------------------------------------------------------ objects */

static struct bf_object *get_object(int h)
{
	if (h < 0 || h >= BF_MAX_OBJECTS || !objects[h].obj)
		return NULL;
	return &objects[h];
}

/* A program or map of object h by name; NULL with *err set to a negative errno otherwise. */
static struct bpf_program *find_program(int h, const char *name, int *err)
{
	struct bf_object *o = get_object(h);
	struct bpf_program *p = o ? bpf_object__find_program_by_name(o->obj, name) : NULL;
	*err = !o ? -EBADF : !p ? -ENOENT : 0;
	return p;
}

static struct bpf_map *find_map(int h, const char *name, int *err)
{
	struct bf_object *o = get_object(h);
	struct bpf_map *m = o ? bpf_object__find_map_by_name(o->obj, name) : NULL;
	*err = !o ? -EBADF : !m ? -ENOENT : 0;
	return m;
}

/*
 * Open a BPF ELF object from memory. Returns a handle. Nothing reaches the kernel yet. When
 * pin_root is not NULL, the maps declared with LIBBPF_PIN_BY_NAME are reused from pin_root/<name>
 * at load when pinned there already (libbpf checks that they match), and pinned there otherwise.
 * Without pin_root nothing is pinned (not even in libbpf's default /sys/fs/bpf).
 */
int bf_obj_open(const void *data, uint64_t size, const char *name, const char *pin_root)
{
	int h;
	for (h = 0; h < BF_MAX_OBJECTS; h++)
		if (!objects[h].obj)
			break;
	if (h == BF_MAX_OBJECTS)
		return -EMFILE;
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name, .pin_root_path = pin_root);
	struct bpf_object *obj = bpf_object__open_mem(data, size, &opts);
	if (!obj)
		return -errno;
	if (!pin_root) {
		struct bpf_map *m;
		bpf_object__for_each_map(m, obj) {
			int err = bpf_map__set_pin_path(m, NULL);
			if (err) {
				bpf_object__close(obj);
				return err;
			}
		}
	}
	objects[h].obj = obj;
	objects[h].nlinks = 0;
	return h;
}

/* Choose whether a program is loaded (before bf_obj_load). */
int bf_prog_set_autoload(int h, const char *prog_name, int autoload)
{
	int err;
	struct bpf_program *p = find_program(h, prog_name, &err);
	if (!p)
		return err;
	return bpf_program__set_autoload(p, autoload != 0);
}

/* The names of the object's programs, one per line, into buf (NUL-terminated). */
int bf_obj_program_names(int h, char *buf, uint32_t len)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	uint32_t used = 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj) {
		const char *name = bpf_program__name(p);
		size_t n = strlen(name);
		if (used + n + 2 > len)
			return -ENOSPC;
		memcpy(buf + used, name, n);
		used += n;
		buf[used++] = '\n';
	}
	if (len)
		buf[used < len ? used : len - 1] = 0;
	return (int)used;
}

/* Load every program with autoload on and create the maps. */
int bf_obj_load(int h)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	struct bpf_map *m;
	o->ninner = 0;
	bpf_object__for_each_map(m, o->obj) {
		struct bpf_map *inner = bpf_map__inner_map(m);
		if (!inner)
			continue;
		if (o->ninner == BF_MAX_INNER)
			return -ENOSPC;
		struct bf_inner_spec *spec = &o->inner[o->ninner++];
		snprintf(spec->outer, sizeof(spec->outer), "%s", bpf_map__name(m));
		spec->type = bpf_map__type(inner);
		spec->key_size = bpf_map__key_size(inner);
		spec->value_size = bpf_map__value_size(inner);
		spec->max_entries = bpf_map__max_entries(inner);
		spec->flags = bpf_map__map_flags(inner);
	}
	int err = bpf_object__load(o->obj);
	return err < 0 ? err : 0;
}

/*
 * Attach one loaded program by name. Without pin_path its link lives until bf_obj_close; with
 * pin_path it is pinned there and lives until that pin is removed, whatever becomes of this process.
 */
int bf_prog_attach(int h, const char *prog_name, const char *pin_path)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	if (o->nlinks == BF_MAX_LINKS)
		return -ENOSPC;
	int err;
	struct bpf_program *p = find_program(h, prog_name, &err);
	if (!p)
		return err;
	struct bpf_link *link = bpf_program__attach(p);
	if (!link)
		return -errno;
	if (pin_path) {
		err = bpf_link__pin(link, pin_path);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
	}
	o->links[o->nlinks++] = link;
	return 0;
}

/* Detach every link of the object (destroyed: a pinned one stays in the kernel), keeping it loaded. */
int bf_obj_detach(int h)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	for (int i = o->nlinks - 1; i >= 0; i--)
		bpf_link__destroy(o->links[i]);
	o->nlinks = 0;
	return 0;
}

/* Detach every link and free the object: the kernel forgets it unless something is pinned. */
int bf_obj_close(int h)
{
	int err = bf_obj_detach(h);
	if (err)
		return err;
	struct bf_object *o = get_object(h);
	bpf_object__close(o->obj);
	memset(o, 0, sizeof(*o));
	return 0;
}

/* ------------------------------------------------------------------ maps */

/*
 * The fd of a map by name, after checking that its key and value sizes are what the caller
 * expects (so a drifted layout fails loudly instead of writing garbage).
 */
int bf_map_fd(int h, const char *map_name, uint32_t key_size, uint32_t value_size)
{
	int err;
	struct bpf_map *m = find_map(h, map_name, &err);
	if (!m)
		return err;
	if (bpf_map__key_size(m) != key_size || bpf_map__value_size(m) != value_size)
		return -EPROTO;
	return bpf_map__fd(m);
}

int bf_map_update(int fd, const void *key, const void *value, uint64_t flags)
{
	int err = bpf_map_update_elem(fd, key, value, flags);
	return err < 0 ? -errno : 0;
}

int bf_map_lookup(int fd, const void *key, void *value)
{
	int err = bpf_map_lookup_elem(fd, key, value);
	return err < 0 ? -errno : 0;
}

int bf_map_delete(int fd, const void *key)
{
	int err = bpf_map_delete_elem(fd, key);
	return err < 0 ? -errno : 0;
}

/*
 * Update count entries laid out back to back. Uses BPF_MAP_UPDATE_BATCH where the map
 * supports it and falls back to one update per entry. Returns the number written; on
 * failure, a negative errno (entries before the failing one may have been written: the
 * caller owns the rollback, typically by closing the whole object).
 */
int bf_map_update_many(int fd, const void *keys, const void *values, uint32_t count,
		       uint32_t key_size, uint32_t value_size, uint64_t flags)
{
	if (count == 0)
		return 0;
	__u32 n = count;
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
	int err = bpf_map_update_batch(fd, keys, values, &n, &opts);
	if (err == 0)
		return (int)n;
	if (errno != EINVAL && errno != 524 /* ENOTSUPP, kernel-internal */ && errno != EOPNOTSUPP)
		return -errno;
	for (uint32_t i = 0; i < count; i++) {
		const char *k = (const char *)keys + (size_t)i * key_size;
		const char *v = (const char *)values + (size_t)i * value_size;
		if (bpf_map_update_elem(fd, k, v, flags) < 0)
			return -errno;
	}
	return (int)count;
}

/*
 * A new, empty map shaped like the inner map template of the map-in-map outer_name (the kernel
 * accepts only inner maps that match it), named name, for a loaded object (the shape is recorded
 * by bf_obj_load). Returns its fd; the caller closes it.
 */
int bf_inner_map_create(int h, const char *outer_name, const char *name)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	for (int i = 0; i < o->ninner; i++) {
		struct bf_inner_spec *spec = &o->inner[i];
		if (strcmp(spec->outer, outer_name))
			continue;
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = spec->flags);
		int fd = bpf_map_create(spec->type, name, spec->key_size, spec->value_size, spec->max_entries, &opts);
		return fd < 0 ? -errno : fd;
	}
	return -ENOENT; /* not a map-in-map of this object, or the object is not loaded yet */
}

/*
 * Whether the kernel still has the map, program or link with this id (kind as enum
 * bf_object_kind): 1 yes, 0 no (freed), or a negative errno.
 */
int bf_obj_id_alive(uint32_t kind, uint32_t id)
{
	int fd;
	switch (kind) {
	case BF_OBJECT_MAP:
		fd = bpf_map_get_fd_by_id(id);
		break;
	case BF_OBJECT_PROG:
		fd = bpf_prog_get_fd_by_id(id);
		break;
	case BF_OBJECT_LINK:
		fd = bpf_link_get_fd_by_id(id);
		break;
	default:
		return -EINVAL;
	}
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	close(fd);
	return 1;
}

/* The kernel's id of the map behind fd. */
int64_t bf_map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	return err < 0 ? -errno : (int64_t)info.id;
}

/*
 * The kernel ids of the object's maps, programs and links, as (kind, id) pairs of u32 into out
 * (kind: enum bf_object_kind). Returns the number of pairs.
 */
int bf_obj_ids(int h, uint32_t *out, uint32_t max_pairs)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	uint32_t n = 0;
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj) {
		int fd = bpf_map__fd(m);
		if (fd < 0)
			continue;
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
			return -errno;
		if (n == max_pairs)
			return -ENOSPC;
		out[2 * n] = BF_OBJECT_MAP;
		out[2 * n + 1] = info.id;
		n++;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj) {
		int fd = bpf_program__fd(p);
		if (fd < 0)
			continue;
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
			return -errno;
		if (n == max_pairs)
			return -ENOSPC;
		out[2 * n] = BF_OBJECT_PROG;
		out[2 * n + 1] = info.id;
		n++;
	}
	for (int i = 0; i < o->nlinks; i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_link__fd(o->links[i]), &info, &len) < 0)
			return -errno;
		if (n == max_pairs)
			return -ENOSPC;
		out[2 * n] = BF_OBJECT_LINK;
		out[2 * n + 1] = info.id;
		n++;
	}
	return (int)n;
}

int bf_fd_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

/* Make a map read-only for every file descriptor (BPF programs still write it). */
int bf_map_freeze(int fd)
{
	return bpf_map_freeze(fd) < 0 ? -errno : 0;
}

/*
 * Every entry of a hash map, keys and values back to back, into the caller's buffers (room for
 * max entries). Returns the number of entries, or -ENOSPC when there are more than max.
 */
int bf_map_dump(int fd, void *keys, void *values, uint32_t max, uint32_t key_size, uint32_t value_size)
{
	/* In batches first: a handful of system calls for the whole map. */
	__u64 token = 0;
	__u32 got = 0, count;
	int err;
	do {
		count = max - got;
		if (count == 0) {
			/* Full: is there one more? Ask for one past the end. */
			char k[256], v[256];
			__u32 one = 1;
			if (key_size > sizeof(k) || value_size > sizeof(v))
				return -EINVAL;
			err = bpf_map_lookup_batch(fd, got ? &token : NULL, &token, k, v, &one, NULL);
			if (err == 0 || (errno == ENOENT && one > 0))
				return -ENOSPC;
			if (errno == ENOENT)
				return (int)got;
			break; /* not supported: one by one below */
		}
		err = bpf_map_lookup_batch(fd, got ? &token : NULL, &token, (char *)keys + (size_t)got * key_size,
					   (char *)values + (size_t)got * value_size, &count, NULL);
		got += count;
		if (err && errno == ENOENT)
			return (int)got; /* the end */
	} while (!err);
	if (errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP)
		return -errno;

	uint32_t n = 0;
	char *prev = NULL;
	char cur[256];
	if (key_size > sizeof(cur))
		return -EINVAL;
	for (;;) {
		char *next = (char *)keys + (size_t)n * key_size;
		if (n == max) {
			/* Full: is there one more? */
			if (bpf_map_get_next_key(fd, prev, cur) == 0)
				return -ENOSPC;
			return errno == ENOENT ? (int)n : -errno;
		}
		if (bpf_map_get_next_key(fd, prev, next) < 0)
			return errno == ENOENT ? (int)n : -errno;
		if (bpf_map_lookup_elem(fd, next, (char *)values + (size_t)n * value_size) < 0) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile (only the kernel deletes): look again from prev */
			return -errno;
		}
		prev = next;
		n++;
	}
}

/* The planned entries bf_entries_same compares against, for qsort_r and the binary search. */
struct planned {
	const char *keys;
	uint32_t key_size;
};

static int planned_cmp(const void *a, const void *b, void *arg)
{
	const struct planned *p = arg;
	return memcmp(p->keys + (size_t)*(const uint32_t *)a * p->key_size, p->keys + (size_t)*(const uint32_t *)b * p->key_size,
		      p->key_size);
}

/*
 * Whether held (count_held entries, as bf_map_dump reads a map) is exactly planned (count
 * entries; keys and values back to back, keys distinct): the plan is sorted by key and each entry
 * held looked up in it. Returns 0 when it is; 1 when held has an entry the plan does not (or a
 * planned key with another value); 2 when it has fewer; -ENOMEM.
 */
int bf_entries_same(const void *keys, const void *values, uint32_t count, const void *held_keys, const void *held_values, uint32_t count_held,
		    uint32_t key_size, uint32_t value_size)
{
	if (count_held > count)
		return 1;
	uint32_t *order = malloc((count ? count : 1) * sizeof(uint32_t));
	if (!order)
		return -ENOMEM;
	struct planned p = { keys, key_size };
	for (uint32_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(uint32_t), planned_cmp, &p);
	int ret = 0;
	for (uint32_t h = 0; h < count_held && ret == 0; h++) {
		const char *k = (const char *)held_keys + (size_t)h * key_size;
		uint32_t lo = 0, hi = count;
		ret = 1;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			int c = memcmp(k, (const char *)keys + (size_t)order[mid] * key_size, key_size);
			if (c == 0) {
				ret = memcmp((const char *)held_values + (size_t)h * value_size, (const char *)values + (size_t)order[mid] * value_size,
					     value_size) ?
					      1 :
					      0;
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	free(order);
	return ret == 0 && count_held != count ? 2 : ret;
}

/* The probe program's slots (bpf/probe.bpf.c enum probe_slot). */
enum { SLOT_INO = 2, SLOT_DEV = 3, SLOT_TID = 4, SLOT_TID_HITS = 5, SLOTS = 6 };

/* The last kernel device probe_open saw and its file system's type (statfs's f_type). */
struct fs_seen {
	uint64_t dev, fs_type;
};

/*
 * The kernel's (s_dev, i_ino) of the file at p as this thread opens it, read from the probe
 * program's slots: the first file the open presented, which is the one every hook on that path
 * sees; and the type of its file system (statfs's f_type). Returns how many files the open
 * presented (1; more on a stacked file system such as overlayfs, whose open presents its own
 * file, then its layer's), or -1 when p cannot be opened.
 */
static int probe_open(volatile uint64_t *slots, const char *p, uint64_t *dev, uint64_t *ino, uint64_t *fs_type, struct fs_seen *seen)
{
	slots[SLOT_DEV] = 0;
	uint64_t before = slots[SLOT_TID_HITS];
	int fd = open(p, O_RDONLY | O_NONBLOCK | O_NOATIME | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* The program wrote them during open(), on this thread. */
	uint64_t i = slots[SLOT_INO], d = slots[SLOT_DEV], hits = slots[SLOT_TID_HITS] - before;
	/* One s_dev is one super block, so one file system type: asked once per run of a device. */
	if (d && d != seen->dev) {
		struct statfs fs;
		seen->dev = d;
		seen->fs_type = fstatfs(fd, &fs) == 0 ? (uint64_t)fs.f_type : 0;
	}
	close(fd);
	if (!hits || !d)
		return -1;
	*dev = d;
	*ino = i;
	*fs_type = seen->fs_type;
	return (int)hits;
}

/* A device number as the kernel keeps it in s_dev (MKDEV: major << 20 | minor). */
static uint64_t kernel_dev(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

/*
 * The kernel's (s_dev, i_ino) of n paths (NUL-separated in paths), named by the probe program as
 * this thread opens each one (probe_open): the map is memory-mapped, so naming a file costs its
 * stat, open and close and no bpf() call. Only regular files and directories are opened (opening a
 * device or a FIFO can have side effects). For each path out gets BF_PROBE_STRIDE values {dev,
 * ino, kind, fs_type}: kind 0 missing, 1 regular file, 2 directory, 3 anything else (what a
 * symbolic link leads to), plus BF_PROBE_STACKED where the path is on a stacked file system (its
 * open presented more than one file; or, where it could not be opened, statfs says overlayfs), and
 * BF_PROBE_LINK where its last component is a symbolic link; dev and ino 0 when it could not
 * be named; fs_type the type of the file system the kernel names it on (statfs's f_type; 0 when
 * unknown).
 *
 * With by_stat, a path is named by its stat alone where its directory (the path up to its last
 * "/", as written) shows that stat names inodes as the kernel does: the directory, opened, has
 * the kernel's (s_dev, i_ino) equal to its own stat's, and the path's st_dev is the directory's.
 * Elsewhere (btrfs subvolumes, whose st_dev is not the super block's; overlayfs; a file system
 * mounted on the path, or a symbolic link into one) the path is opened as above. Consecutive
 * paths in one directory share its test.
 *
 * Returns n, or -errno when the map cannot be mapped.
 */
int bf_probe_inodes(int slots_fd, const char *paths, uint32_t n, int by_stat, uint64_t *out)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile uint64_t *slots = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
	if (slots == MAP_FAILED)
		return -errno;
	slots[SLOT_TID] = (uint64_t)syscall(SYS_gettid);
	char dir[PATH_MAX];
	size_t dir_len = 0;
	int dir_alike = 0;
	dev_t dir_dev = 0;
	uint64_t dir_fs = 0;
	struct fs_seen seen = { 0, 0 };
	const char *p = paths;
	for (uint32_t i = 0; i < n; i++, p += strlen(p) + 1) {
		uint64_t *o = out + (size_t)BF_PROBE_STRIDE * i; /* dev, ino, kind, fs_type */
		o[0] = o[1] = o[2] = o[3] = 0;
		struct stat st;
		if (lstat(p, &st) < 0)
			continue;
		uint64_t link = S_ISLNK(st.st_mode) ? BF_PROBE_LINK : 0;
		if (link && stat(p, &st) < 0)
			continue;
		o[2] = (S_ISREG(st.st_mode) ? 1 : S_ISDIR(st.st_mode) ? 2 : 3) | link;
		if ((o[2] & 3) == 3)
			continue;
		if (by_stat) {
			const char *slash = strrchr(p, '/');
			size_t len = !slash ? 0 : slash == p ? 1 : (size_t)(slash - p);
			if (len && len < sizeof(dir) && (len != dir_len || memcmp(dir, p, len))) {
				memcpy(dir, p, len);
				dir[len] = 0;
				dir_len = len;
				struct stat ds;
				uint64_t kdev, kino;
				dir_alike = stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode) && probe_open(slots, dir, &kdev, &kino, &dir_fs, &seen) == 1 &&
					    kdev == kernel_dev(ds.st_dev) && kino == (uint64_t)ds.st_ino;
				dir_dev = dir_alike ? ds.st_dev : 0;
			}
			if (len && len == dir_len && dir_alike && st.st_dev == dir_dev) {
				o[0] = kernel_dev(st.st_dev);
				o[1] = st.st_ino;
				o[3] = dir_fs; /* one device, one file system */
				continue;
			}
		}
		int presented = probe_open(slots, p, &o[0], &o[1], &o[3], &seen);
		struct statfs fs;
		if (presented < 0 && statfs(p, &fs) == 0)
			o[3] = (uint64_t)fs.f_type;
		if (presented > 1 || (presented < 0 && o[3] == OVERLAYFS_SUPER_MAGIC))
			o[2] |= BF_PROBE_STACKED;
	}
	slots[SLOT_TID] = 0;
	munmap((void *)slots, page);
	return (int)n;
}

/*
 * stat(2) of n paths (NUL-separated in paths), following symbolic links as open() does: for each,
 * out gets {1, st_ino}, or {0, 0} where stat fails. One call names thousands of paths' current
 * inodes (apply's check that no protected file was replaced while the policy was applied).
 * Returns n.
 */
int bf_stat_inodes(const char *paths, uint32_t n, uint64_t *out)
{
	const char *p = paths;
	for (uint32_t i = 0; i < n; i++, p += strlen(p) + 1) {
		struct stat st;
		int ok = stat(p, &st) == 0;
		out[2 * i] = ok;
		out[2 * i + 1] = ok ? (uint64_t)st.st_ino : 0;
	}
	return (int)n;
}

/* ------------------------------------------------------------------ directory watches */

/*
 * What changes the file a path in a directory names: an entry created, removed or renamed in the
 * directory (a hard link is created), or the directory itself renamed or removed.
 */
#define BF_WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

/* An inotify instance for bf_watch_add; -errno when none can be made. */
int bf_watch_open(void)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Watch a directory (not through a symbolic link): its watch descriptor, or -errno. */
int bf_watch_add(int fd, const char *dir)
{
	int wd = inotify_add_watch(fd, dir, BF_WATCH_MASK);
	return wd < 0 ? -errno : wd;
}

/*
 * The watch descriptors of the directories that changed since they were watched: the events
 * queued on fd are read (all of them), and each directory's descriptor is written to out once (at
 * most max). Returns how many; *all is set to 1 when anything may have changed: the queue
 * overflowed (or held more than max directories), or the mount table of mount_fd (an open
 * /proc/self/mountinfo) changed since it was opened (a file system or a file mounted over a path).
 * -errno when the queue or the mount table cannot be read.
 */
int bf_watch_changes(int fd, int mount_fd, int32_t *out, uint32_t max, int32_t *all)
{
	*all = 0;
	struct pollfd pfd = { .fd = mount_fd, .events = POLLPRI };
	int r = poll(&pfd, 1, 0);
	if (r < 0)
		return -errno;
	if (r > 0 && (pfd.revents & POLLNVAL))
		return -EBADF;
	if (r > 0 && (pfd.revents & (POLLPRI | POLLERR)))
		*all = 1;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t n = 0;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (len == 0)
			break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof(*e) + e->len;
			if (e->mask & IN_Q_OVERFLOW || e->wd < 0) {
				*all = 1;
				continue;
			}
			uint32_t i = 0;
			while (i < n && out[i] != e->wd)
				i++;
			if (i < n)
				continue;
			if (n == max)
				*all = 1;
			else
				out[n++] = e->wd;
		}
	}
	return (int)n;
}

/* Pin a map of an object at path in bpffs. */
int bf_map_pin(int h, const char *map_name, const char *path)
{
	int err;
	struct bpf_map *m = find_map(h, map_name, &err);
	if (!m)
		return err;
	return bpf_map__pin(m, path);
}

int bf_unpin(const char *path)
{
	return unlink(path) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------------ ring buffer */

/*
 * Draining copies records into the caller's buffer as [u32 size][u32 pad][record, padded to
 * 8]. A record that does not fit waits in a one-record stash for the next call, so none is
 * lost between calls.
 */
struct bf_ring {
	struct ring_buffer *rb;
	char *out;
	uint32_t out_len;
	uint32_t out_used;
	uint32_t stash_len; /* 0 when empty */
	char stash[BF_STASH_SIZE];
};

static struct bf_ring rings[BF_MAX_OBJECTS];

static int copy_record(struct bf_ring *r, const void *data, uint32_t size)
{
	uint32_t need = 8 + ((size + 7) & ~7u);
	if (r->out_used + need > r->out_len)
		return -ENOSPC;
	uint32_t hdr[2] = { size, 0 };
	memcpy(r->out + r->out_used, hdr, 8);
	memcpy(r->out + r->out_used + 8, data, size);
	memset(r->out + r->out_used + 8 + size, 0, need - 8 - size);
	r->out_used += need;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct bf_ring *r = ctx;
	if (size > BF_STASH_SIZE)
		return 0; /* never produced by our programs; drop rather than wedge */
	if (r->stash_len || copy_record(r, data, (uint32_t)size) < 0) {
		if (r->stash_len)
			return -ENOSPC; /* should not happen: we stop at the first full record */
		memcpy(r->stash, data, size);
		r->stash_len = (uint32_t)size;
		return -ENOSPC; /* stop consuming; this record is kept in the stash */
	}
	return 0;
}

int bf_ring_open(int h, const char *map_name)
{
	int err;
	struct bpf_map *m = find_map(h, map_name, &err);
	if (!m)
		return err;
	struct bf_ring *r = &rings[h];
	if (r->rb)
		return -EBUSY;
	r->stash_len = 0;
	r->rb = ring_buffer__new(bpf_map__fd(m), on_record, r, NULL);
	if (!r->rb)
		return errno ? -errno : -EINVAL;
	return h;
}

/*
 * Wait up to timeout_ms for records, then copy as many as fit into buf. Returns the bytes
 * written (0 when nothing arrived).
 */
int bf_ring_drain(int rh, void *buf, uint32_t len, int timeout_ms)
{
	if (rh < 0 || rh >= BF_MAX_OBJECTS || !rings[rh].rb)
		return -EBADF;
	struct bf_ring *r = &rings[rh];
	r->out = buf;
	r->out_len = len;
	r->out_used = 0;
	if (r->stash_len) {
		if (copy_record(r, r->stash, r->stash_len) < 0)
			return -ENOSPC; /* the caller's buffer is smaller than one record */
		r->stash_len = 0;
	}
	int err = r->out_used ? ring_buffer__consume(r->rb) : ring_buffer__poll(r->rb, timeout_ms);
	if (err < 0 && err != -ENOSPC && err != -EINTR)
		return err;
	return (int)r->out_used;
}

int bf_ring_close(int rh)
{
	if (rh < 0 || rh >= BF_MAX_OBJECTS || !rings[rh].rb)
		return -EBADF;
	ring_buffer__free(rings[rh].rb);
	memset(&rings[rh], 0, sizeof(rings[rh]));
	return 0;
}

/* ------------------------------------------------------------------ waker */

/*
 * One thread per process that waits, without spinning, for a descriptor (the control socket) to
 * become readable, then calls wake() once: a thread-safe callback that queues a call on the
 * agent's event loop (ffi/shim.ts Waker). Armed again by the agent when its loop goes idle: while
 * it is busy it looks often anyway, and a descriptor that stays readable (a queue the agent does
 * not drain at once) cannot make the thread call again and again.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int fd;
	int stop_pipe[2];
	int armed, stopping, running;
	void (*wake)(void);
} waker = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .stop_pipe = { -1, -1 } };

/* Set one of the waker's flags under its lock and tell the thread. */
static void set_flag(int *flag, int value)
{
	pthread_mutex_lock(&waker.mu);
	*flag = value;
	pthread_cond_signal(&waker.cv);
	pthread_mutex_unlock(&waker.mu);
}

static void *waker_main(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&waker.mu);
		while (!waker.armed && !waker.stopping)
			pthread_cond_wait(&waker.cv, &waker.mu);
		int stopping = waker.stopping;
		pthread_mutex_unlock(&waker.mu);
		if (stopping)
			return NULL;
		struct pollfd p[2] = { { .fd = waker.fd, .events = POLLIN }, { .fd = waker.stop_pipe[0], .events = POLLIN } };
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return NULL;
		/* A descriptor closed under it (POLLNVAL) can never be readable again: end, never spin. */
		if (p[0].revents & POLLNVAL)
			return NULL;
		if (!(p[0].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		set_flag(&waker.armed, 0);
		waker.wake();
		if (p[0].revents & (POLLERR | POLLHUP))
			return NULL; /* nothing more will come from it */
	}
}

/* Start the thread on fd (not armed yet). At most one waker per process: -EBUSY for a second. */
int bf_waker_start(int fd, void (*wake)(void))
{
	if (waker.running)
		return -EBUSY;
	if (pipe2(waker.stop_pipe, O_CLOEXEC) < 0)
		return -errno;
	waker.fd = fd;
	waker.wake = wake;
	waker.armed = 0;
	waker.stopping = 0;
	int err = pthread_create(&waker.thread, NULL, waker_main, NULL);
	if (err) {
		close(waker.stop_pipe[0]);
		close(waker.stop_pipe[1]);
		return -err;
	}
	waker.running = 1;
	return 0;
}

/* Wake the agent once, when fd is next readable (at once if it is now). */
int bf_waker_arm(void)
{
	if (!waker.running)
		return -EBADF;
	set_flag(&waker.armed, 1);
	return 0;
}

/*
 * End the thread and wait for it: the thread makes no call of wake() after this returns (one it
 * made before may still wait on the agent's loop: ffi/shim.ts keeps the callback for that).
 */
int bf_waker_stop(void)
{
	if (!waker.running)
		return -EBADF;
	set_flag(&waker.stopping, 1);
	if (write(waker.stop_pipe[1], "x", 1) < 0) {
		/* the pipe is ours and empty: cannot fail; the thread sees stopping anyway once woken */
	}
	pthread_join(waker.thread, NULL);
	close(waker.stop_pipe[0]);
	close(waker.stop_pipe[1]);
	waker.stop_pipe[0] = waker.stop_pipe[1] = -1;
	waker.running = 0;
	return 0;
}

/* ------------------------------------------------------------------ BTF */

static int append(char *out, uint32_t len, uint32_t *used, const char *fmt, ...)
{
	if (*used >= len)
		return -ENOSPC;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint32_t)n >= len - *used)
		return -ENOSPC;
	*used += (uint32_t)n;
	return 0;
}

/*
 * Describe a struct or enum of the object's BTF as JSON, for the test that keeps
 * src/abi.ts in step with bpf/bomfather.h:
 *   {"kind":"struct","size":N,"members":[{"name":"x","offset":O,"size":S},...]}
 *   {"kind":"enum","size":N,"values":{"A":1,...}}
 * Works right after bf_obj_open: no kernel needed.
 */
int bf_btf_describe(int h, const char *type_name, char *out, uint32_t len)
{
	struct bf_object *o = get_object(h);
	if (!o)
		return -EBADF;
	struct btf *btf = bpf_object__btf(o->obj);
	if (!btf)
		return -ENODATA;
	uint32_t used = 0;
	int id = btf__find_by_name_kind(btf, type_name, BTF_KIND_STRUCT);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_member *m = btf_members(t);
		if (append(out, len, &used, "{\"kind\":\"struct\",\"size\":%u,\"members\":[", t->size))
			return -ENOSPC;
		for (int i = 0; i < btf_vlen(t); i++, m++) {
			__s64 sz = btf__resolve_size(btf, m->type);
			if (append(out, len, &used, "%s{\"name\":\"%s\",\"offset\":%u,\"size\":%lld}",
				   i ? "," : "", btf__name_by_offset(btf, m->name_off),
				   btf_member_bit_offset(t, i) / 8, (long long)sz))
				return -ENOSPC;
		}
		return append(out, len, &used, "]}") ? -ENOSPC : (int)used;
	}
	id = btf__find_by_name_kind(btf, type_name, BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_enum *e = btf_enum(t);
		if (append(out, len, &used, "{\"kind\":\"enum\",\"size\":%u,\"values\":{", t->size))
			return -ENOSPC;
		for (int i = 0; i < btf_vlen(t); i++, e++)
			if (append(out, len, &used, "%s\"%s\":%d", i ? "," : "",
				   btf__name_by_offset(btf, e->name_off), e->val))
				return -ENOSPC;
		return append(out, len, &used, "}}") ? -ENOSPC : (int)used;
	}
	return -ENOENT;
}
