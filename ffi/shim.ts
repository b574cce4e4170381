// The TypeScript face of ffi/shim.c. The only module (with ffi/libc.ts and ffi/socket.ts) that
// imports bun:ffi.
//
// The shim is embedded in the binary; it is copied into a memfd and dlopen()ed from
// /proc/self/fd/N, so the agent needs no writable or executable /tmp.
import { dlopen, FFIType, JSCallback } from "bun:ffi";
import { cstr, memfdWith, strerror } from "./libc.ts";

/** Must equal BF_SHIM_ABI in ffi/shim.c. */
export const SHIM_ABI = 11;
/** Must equal BF_PROBE_STACKED in ffi/shim.c: bf_probe_inodes' flag for a path on a stacked file system. */
const PROBE_STACKED = 0x100;
/** Must equal BF_PROBE_LINK in ffi/shim.c: bf_probe_inodes' flag for a path whose last component is a symbolic link. */
const PROBE_LINK = 0x200;
/** Must equal BF_PROBE_STRIDE in ffi/shim.c: bf_probe_inodes' values per path. */
const PROBE_STRIDE = 4;

const { i32, u32, u64, ptr } = FFIType;
const symbols = {
  bf_abi: { args: [], returns: i32 },
  bf_last_log: { args: [ptr, u32], returns: i32 },
  bf_boottime_ns: { args: [], returns: u64 },
  bf_num_possible_cpus: { args: [], returns: i32 },
  bf_obj_open: { args: [ptr, u64, ptr, ptr], returns: i32 },
  bf_prog_set_autoload: { args: [i32, ptr, i32], returns: i32 },
  bf_obj_program_names: { args: [i32, ptr, u32], returns: i32 },
  bf_obj_load: { args: [i32], returns: i32 },
  bf_prog_attach: { args: [i32, ptr, ptr], returns: i32 },
  bf_obj_close: { args: [i32], returns: i32 },
  bf_obj_detach: { args: [i32], returns: i32 },
  bf_map_fd: { args: [i32, ptr, u32, u32], returns: i32 },
  bf_map_update: { args: [i32, ptr, ptr, u64], returns: i32 },
  bf_map_lookup: { args: [i32, ptr, ptr], returns: i32 },
  bf_map_delete: { args: [i32, ptr], returns: i32 },
  bf_map_update_many: { args: [i32, ptr, ptr, u32, u32, u32, u64], returns: i32 },
  bf_map_pin: { args: [i32, ptr, ptr], returns: i32 },
  bf_inner_map_create: { args: [i32, ptr, ptr], returns: i32 },
  bf_fd_close: { args: [i32], returns: i32 },
  bf_map_id: { args: [i32], returns: FFIType.i64 },
  bf_obj_id_alive: { args: [u32, u32], returns: i32 },
  bf_map_freeze: { args: [i32], returns: i32 },
  bf_probe_inodes: { args: [i32, ptr, u32, i32, ptr], returns: i32 },
  bf_stat_inodes: { args: [ptr, u32, ptr], returns: i32 },
  bf_map_dump: { args: [i32, ptr, ptr, u32, u32, u32], returns: i32 },
  bf_entries_same: { args: [ptr, ptr, u32, ptr, ptr, u32, u32, u32], returns: i32 },
  bf_obj_ids: { args: [i32, ptr, u32], returns: i32 },
  bf_unpin: { args: [ptr], returns: i32 },
  bf_ring_open: { args: [i32, ptr], returns: i32 },
  bf_ring_drain: { args: [i32, ptr, u32, i32], returns: i32 },
  bf_ring_close: { args: [i32], returns: i32 },
  bf_btf_describe: { args: [i32, ptr, ptr, u32], returns: i32 },
  bf_measure_verity: { args: [i32, ptr, u32], returns: i32 },
  bf_watch_open: { args: [], returns: i32 },
  bf_watch_add: { args: [i32, ptr], returns: i32 },
  bf_watch_changes: { args: [i32, i32, ptr, u32, ptr], returns: i32 },
  bf_waker_start: { args: [i32, FFIType.function], returns: i32 },
  bf_waker_arm: { args: [], returns: i32 },
  bf_waker_stop: { args: [], returns: i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

/** A failed shim call: which operation, the errno, and what libbpf/the verifier said. */
export class NativeError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly log: string,
  ) {
    super(`${op} failed: ${strerror(errno)} (errno ${errno})`);
  }
}

const BPF_ANY = 0n;

/** Paths for the shim's calls that take many: each ends with a NUL. */
function nulSeparated(paths: readonly string[]): Buffer {
  return Buffer.from(paths.join("\0") + "\0", "utf8");
}

export class Shim {
  private constructor(private readonly lib: Lib) {}

  /** Load the shim from its bytes and check that it speaks our ABI. */
  static load(bytes: Uint8Array): Shim {
    const fd = memfdWith("bomfather-shim", bytes);
    const lib = dlopen(`/proc/self/fd/${fd}`, symbols).symbols;
    const abi = lib.bf_abi();
    if (abi !== SHIM_ABI) throw new Error(`Shim ABI ${abi} does not match agent ABI ${SHIM_ABI}: rebuild with ./dev build`);
    return new Shim(lib);
  }

  /** libbpf's messages since the last call (the verifier log after a failed load). */
  lastLog(): string {
    const buf = new Uint8Array(64 * 1024);
    const n = this.lib.bf_last_log(buf, buf.length);
    return n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  }

  /** Throws NativeError for a negative result; returns it otherwise. */
  check(op: string, result: number): number {
    if (result < 0) throw new NativeError(op, -result, this.lastLog());
    return result;
  }

  numPossibleCpus(): number {
    return this.check("Counting possible CPUs", this.lib.bf_num_possible_cpus());
  }

  /**
   * A thread that waits for fd to become readable and then calls wake on the JavaScript thread
   * (queued on its event loop, which it wakes), once per arm(). One per process.
   */
  waker(fd: number, wake: () => void): Waker {
    const callback = new JSCallback(wake, { args: [], returns: "void", threadsafe: true });
    const r = this.lib.bf_waker_start(fd, callback.ptr!);
    if (r < 0) {
      callback.close();
      this.check("Starting the waker thread", r);
    }
    return new Waker(this.lib, callback);
  }

  /** Whether the kernel still has the map (kind 1), program (2) or link (3) with this id. */
  objectAlive(kind: number, id: number): boolean {
    return this.check(`Looking up BPF object ${id}`, this.lib.bf_obj_id_alive(kind, id)) === 1;
  }

  boottimeNs(): bigint {
    return BigInt(this.lib.bf_boottime_ns());
  }

  /**
   * The fs-verity digest the kernel records for the open file fd: its algorithm number (1:
   * SHA-256) and bytes; null when the file has no fs-verity. Throws NativeError when it cannot be
   * measured (a file system without fs-verity: ENOTTY or EOPNOTSUPP).
   */
  measureVerity(fd: number): { algorithm: number; digest: Uint8Array } | null {
    const out = new Uint8Array(64);
    const r = this.lib.bf_measure_verity(fd, out, out.length);
    if (r === -61 /* ENODATA */) return null;
    this.check("Measuring the fs-verity digest", r);
    return { algorithm: r >>> 16, digest: out.slice(0, r & 0xffff) };
  }

  /**
   * Open a BPF object from its bytes. With pinRoot, its maps declared LIBBPF_PIN_BY_NAME are
   * reused from pinRoot when pinned there already, and pinned there otherwise (at load).
   */
  openObject(bytes: Uint8Array, name: string, pinRoot?: string): BpfObject {
    const h = this.check(
      `Opening BPF object "${name}"`,
      this.lib.bf_obj_open(bytes, BigInt(bytes.length), cstr(name), pinRoot === undefined ? null : cstr(pinRoot)),
    );
    return new BpfObject(this, this.lib, h, name);
  }

  /**
   * Each path's inode number as stat(2) gives it now (following symbolic links), or null where
   * stat fails: one call for thousands of paths.
   */
  statInodes(paths: readonly string[]): (bigint | null)[] {
    if (!paths.length) return [];
    const out = new BigUint64Array(2 * paths.length);
    this.check("Reading the inodes of the protected files", this.lib.bf_stat_inodes(nulSeparated(paths), paths.length, out));
    return paths.map((_, i) => (out[2 * i] ? out[2 * i + 1]! : null));
  }

  /**
   * Whether held (entries as BpfMap.dump reads them) is exactly planned (keys distinct): "same";
   * "extra" where held has an entry the plan does not, or another value for a planned key; "lost"
   * where it has fewer. Compared here, not in JavaScript: a policy has tens of thousands of entries.
   */
  sameEntries(planned: Entries, held: Entries, keySize: number, valueSize: number): "same" | "extra" | "lost" {
    for (const [what, e] of [["planned", planned], ["held", held]] as const) {
      if (e.keys.length !== e.count * keySize || e.values.length !== e.count * valueSize) throw new Error(`Bug: ${what} entries of the wrong size`);
    }
    const some = (b: Uint8Array) => (b.length ? b : new Uint8Array(1)); // an empty array is no pointer
    const r = this.check(
      "Comparing a map with its plan",
      this.lib.bf_entries_same(some(planned.keys), some(planned.values), planned.count, some(held.keys), some(held.values), held.count, keySize, valueSize),
    );
    return r === 0 ? "same" : r === 1 ? "extra" : "lost";
  }

  /** A new inotify instance (non-blocking) for watchDirectory and changedDirectories; close it with node's closeSync. */
  openWatch(): number {
    return this.check("Watching directories (inotify)", this.lib.bf_watch_open());
  }

  /** Watch a directory of a path for entries created, removed or renamed, and for its own rename or removal: its watch descriptor, or -errno. */
  watchDirectory(fd: number, dir: string): number {
    return this.lib.bf_watch_add(fd, cstr(dir));
  }

  /**
   * The watch descriptors of the directories that changed since they were watched (each once), or
   * "all" when anything may have (events lost, or the mount table of mountFd, an open
   * /proc/self/mountinfo, changed). Throws NativeError when the events cannot be read.
   */
  changedDirectories(fd: number, mountFd: number, watched: number): number[] | "all" {
    const out = new Int32Array(Math.max(watched, 1));
    const all = new Int32Array(1);
    const n = this.check("Reading the changes of watched directories", this.lib.bf_watch_changes(fd, mountFd, out, out.length, all));
    return all[0] ? "all" : [...out.subarray(0, n)];
  }

  unpin(path: string): void {
    this.check(`Unpinning "${path}"`, this.lib.bf_unpin(cstr(path)));
  }
}

/** Map entries back to back: count keys, then count values. */
export interface Entries {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
}

export class BpfObject {
  private closed = false;
  constructor(
    private readonly shim: Shim,
    private readonly lib: Lib,
    readonly handle: number,
    readonly name: string,
  ) {}

  /** The programs the object holds, by name. */
  programNames(): string[] {
    const buf = new Uint8Array(8 * 1024);
    const n = this.shim.check(`Listing the programs of "${this.name}"`, this.lib.bf_obj_program_names(this.handle, buf, buf.length));
    return new TextDecoder().decode(buf.subarray(0, n)).split("\n").filter(Boolean);
  }

  setAutoload(prog: string, on: boolean): void {
    this.shim.check(`Setting autoload of "${prog}"`, this.lib.bf_prog_set_autoload(this.handle, cstr(prog), on ? 1 : 0));
  }

  load(): void {
    this.shim.check(`Loading BPF object "${this.name}"`, this.lib.bf_obj_load(this.handle));
  }

  /** Attach a program; with pinPath its link is pinned there and outlives this process. */
  attach(prog: string, pinPath?: string): void {
    this.shim.check(
      `Attaching program "${prog}"${pinPath ? ` (pinned at "${pinPath}")` : ""}`,
      this.lib.bf_prog_attach(this.handle, cstr(prog), pinPath === undefined ? null : cstr(pinPath)),
    );
  }

  /** Detach every program attached through this object (a pinned link stays), keeping it loaded. */
  detach(): void {
    this.shim.check(`Detaching the programs of "${this.name}"`, this.lib.bf_obj_detach(this.handle));
  }

  /**
   * A new, empty map shaped like the inner map template of the map-in-map `outer`, as a BpfMap the
   * caller owns (close it once the outer map holds it).
   */
  createInnerMap(outer: string, name: string, keySize: number, valueSize: number): BpfMap {
    const fd = this.shim.check(`Creating an inner map of "${outer}"`, this.lib.bf_inner_map_create(this.handle, cstr(outer), cstr(name)));
    return new BpfMap(this.shim, this.lib, fd, name, keySize, valueSize, true);
  }

  map(name: string, keySize: number, valueSize: number): BpfMap {
    const fd = this.lib.bf_map_fd(this.handle, cstr(name), keySize, valueSize);
    if (fd === -71 /* EPROTO */) {
      throw new NativeError(`Opening map "${name}" (key ${keySize} B, value ${valueSize} B): layout differs from the BPF object`, 71, "");
    }
    this.shim.check(`Opening map "${name}"`, fd);
    return new BpfMap(this.shim, this.lib, fd, name, keySize, valueSize);
  }

  pinMap(name: string, path: string): void {
    this.shim.check(`Pinning map "${name}" at "${path}"`, this.lib.bf_map_pin(this.handle, cstr(name), cstr(path)));
  }

  openRing(mapName: string): Ring {
    const h = this.shim.check(`Opening ring buffer "${mapName}"`, this.lib.bf_ring_open(this.handle, cstr(mapName)));
    return new Ring(this.shim, this.lib, h);
  }

  /** The kernel ids of the object's maps, programs and links: [kind (enum bf_object_kind), id]. */
  objectIds(): [number, number][] {
    const out = new Uint32Array(2 * 256);
    const n = this.shim.check(`Listing the BPF objects of "${this.name}"`, this.lib.bf_obj_ids(this.handle, out, 256));
    return Array.from({ length: n }, (_, i) => [out[2 * i]!, out[2 * i + 1]!]);
  }

  /** A struct's or enum's layout from the object's BTF (see bf_btf_describe). */
  describeBtf(typeName: string): BtfStruct | BtfEnum {
    const buf = new Uint8Array(16 * 1024);
    const n = this.shim.check(`Describing BTF type "${typeName}"`, this.lib.bf_btf_describe(this.handle, cstr(typeName), buf, buf.length));
    return JSON.parse(new TextDecoder().decode(buf.subarray(0, n)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.bf_obj_close(this.handle);
  }
}

export interface BtfStruct {
  kind: "struct";
  size: number;
  members: { name: string; offset: number; size: number }[];
}
export interface BtfEnum {
  kind: "enum";
  size: number;
  values: Record<string, number>;
}

/** What a path is, and the kernel's name of its inode when it could be opened. */
export interface ProbedPath {
  kind: "missing" | "file" | "directory" | "other";
  key: { dev: number; ino: bigint } | null;
  /** On a stacked file system (overlayfs): key is the stacked file's inode, which its hooks see. */
  stacked: boolean;
  /** The type of the file system it is on (statfs's f_type), 0 when unknown. */
  fsType: number;
  /** Why the kernel's name of it cannot be trusted to last, and what to do (src/kernel/probe.ts). */
  unsound?: { why: string; hint: string };
  /** Its last component is a symbolic link (kind and key are what it leads to). */
  link: boolean;
}
const KINDS = ["missing", "file", "directory", "other"] as const;

export class BpfMap {
  constructor(
    private readonly shim: Shim,
    private readonly lib: Lib,
    readonly fd: number,
    readonly name: string,
    readonly keySize: number,
    readonly valueSize: number,
    /** This map's fd is ours to close (maps of an object are closed with the object). */
    private readonly owned = false,
  ) {}

  /**
   * This map being the probe's slots (bpf/probe.bpf.c), what each path is and the kernel's
   * (s_dev, i_ino) of it, opened by this process: key null where it could not be named. With
   * byStat, a path whose directory shows that stat names inodes as the kernel does is named by
   * stat instead of opened (ffi/shim.c bf_probe_inodes).
   */
  probeInodes(paths: string[], byStat = false): ProbedPath[] {
    if (!paths.length) return [];
    const out = new BigUint64Array(PROBE_STRIDE * paths.length);
    this.shim.check("Naming files as the kernel does", this.lib.bf_probe_inodes(this.fd, nulSeparated(paths), paths.length, byStat ? 1 : 0, out));
    // Device, kind and file system type are read as numbers from the 32-bit halves of their u64
    // (little-endian), without making a BigInt of each; the inode number is one.
    const words = new Uint32Array(out.buffer);
    const number = (at: number) => (words[2 * at + 1] === 0 ? words[2 * at]! : Number(out[at]));
    return paths.map((_, i) => {
      const at = PROBE_STRIDE * i;
      const kind = number(at + 2);
      const ino = out[at + 1]!;
      return {
        kind: KINDS[kind & ~(PROBE_STACKED | PROBE_LINK)]!,
        key: ino === 0n ? null : { dev: number(at), ino },
        stacked: (kind & PROBE_STACKED) !== 0,
        fsType: number(at + 3),
        link: (kind & PROBE_LINK) !== 0,
      };
    });
  }

  /** Read-only for every file descriptor from now on (BPF programs still write it). */
  freeze(): void {
    this.shim.check(`Freezing map "${this.name}"`, this.lib.bf_map_freeze(this.fd));
  }

  /** Every entry (keys and values back to back); throws when there are more than max. */
  dump(max: number): { keys: Uint8Array; values: Uint8Array; count: number } {
    const keys = new Uint8Array(this.keySize * Math.max(max, 1));
    const values = new Uint8Array(this.valueSize * Math.max(max, 1));
    const count = this.shim.check(`Reading map "${this.name}"`, this.lib.bf_map_dump(this.fd, keys, values, max, this.keySize, this.valueSize));
    return { keys: keys.subarray(0, count * this.keySize), values: values.subarray(0, count * this.valueSize), count };
  }

  /** The kernel's id of this map. */
  id(): number {
    return Number(this.shim.check(`Reading the id of map "${this.name}"`, Number(this.lib.bf_map_id(this.fd))));
  }

  /** Close a map this side created; the kernel frees it once nothing else holds it. */
  close(): void {
    if (this.owned) this.lib.bf_fd_close(this.fd);
  }

  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    this.sizes(key, value, 1);
    this.shim.check(`Updating map "${this.name}"`, this.lib.bf_map_update(this.fd, key, value, flags));
  }

  /** The value for key, or null when absent. */
  lookup(key: Uint8Array): Uint8Array | null {
    this.sizes(key, null, 1);
    const value = new Uint8Array(this.valueSize);
    const r = this.lib.bf_map_lookup(this.fd, key, value);
    if (r === -2 /* ENOENT */) return null;
    this.shim.check(`Looking up map "${this.name}"`, r);
    return value;
  }

  /** Sum of a per-CPU u64 value over every CPU (valueSize must be 8). */
  lookupPerCpuSum(key: Uint8Array): bigint {
    const cpus = this.shim.numPossibleCpus();
    const values = new BigUint64Array(cpus);
    this.shim.check(`Looking up map "${this.name}"`, this.lib.bf_map_lookup(this.fd, key, new Uint8Array(values.buffer)));
    return values.reduce((a, b) => a + b, 0n);
  }

  delete(key: Uint8Array): void {
    this.sizes(key, null, 1);
    this.shim.check(`Deleting from map "${this.name}"`, this.lib.bf_map_delete(this.fd, key));
  }

  /** Write count entries laid out back to back (keys and values), batched by the kernel. */
  updateMany(keys: Uint8Array, values: Uint8Array, count: number, flags = BPF_ANY): void {
    if (count === 0) return;
    this.sizes(keys, values, count);
    this.shim.check(
      `Updating ${count} entries of map "${this.name}"`,
      this.lib.bf_map_update_many(this.fd, keys, values, count, this.keySize, this.valueSize, flags),
    );
  }

  private sizes(key: Uint8Array, value: Uint8Array | null, count: number): void {
    if (key.length !== this.keySize * count || (value && value.length !== this.valueSize * count)) {
      throw new Error(`Bug: wrong key/value size for map "${this.name}"`);
    }
  }
}

export class Ring {
  constructor(
    private readonly shim: Shim,
    private readonly lib: Lib,
    readonly handle: number,
  ) {}

  /**
   * Wait up to timeoutMs for records and copy as many as fit into buf, each as
   * [u32 size][u32 pad][record padded to 8]. Returns the bytes written.
   */
  drain(buf: Uint8Array, timeoutMs: number): number {
    return this.shim.check("Reading the event ring buffer", this.lib.bf_ring_drain(this.handle, buf, buf.length, timeoutMs));
  }

  close(): void {
    this.lib.bf_ring_close(this.handle);
  }
}

/** Callbacks of stopped wakers, kept from the collector (see Waker.stop). */
const stoppedCallbacks: JSCallback[] = [];

/** See Shim.waker. */
export class Waker {
  private stopped = false;
  constructor(
    private readonly lib: Lib,
    private readonly callback: JSCallback,
  ) {}

  /** Call wake once, when the descriptor is next readable (at once if it is now). */
  arm(): void {
    if (!this.stopped) this.lib.bf_waker_arm();
  }

  /**
   * End the thread (waits for it): wake is not called again. Before the descriptor is closed.
   * The callback itself is never freed: a call the thread queued just before may still wait on
   * the event loop (a few bytes, once per process).
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.lib.bf_waker_stop();
    stoppedCallbacks.push(this.callback);
  }
}

/** Split a drained buffer into its records (views into buf). */
export function* records(buf: Uint8Array, used: number): Generator<Uint8Array> {
  const view = new DataView(buf.buffer, buf.byteOffset, used);
  let off = 0;
  while (off + 8 <= used) {
    const size = view.getUint32(off, true);
    yield buf.subarray(off + 8, off + 8 + size);
    off += 8 + ((size + 7) & ~7);
  }
}
