// The few libc calls the agent needs that Bun does not offer: memfd_create (to load the shim
// without touching /tmp), mount (to mount securityfs/bpffs when missing), flock (one agent at a
// time) and strerror.
import { dlopen, FFIType, read } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  memfd_create: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  mount: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  __errno_location: { args: [], returns: FFIType.ptr },
});

const MFD_CLOEXEC = 1;

export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

/** The calling thread's errno: read it right after the failed call, before anything else runs. */
export function errno(): number {
  const p = libc.symbols.__errno_location();
  return p ? read.i32(p, 0) : 0;
}

export function strerror(err: number): string {
  return String(libc.symbols.strerror(Math.abs(err)));
}

/** Copy bytes into an anonymous memory file and return its fd; nothing touches a filesystem. */
export function memfdWith(name: string, bytes: Uint8Array): number {
  const fd = libc.symbols.memfd_create(cstr(name), MFD_CLOEXEC);
  if (fd < 0) throw new Error(`memfd_create failed: ${strerror(errno())}`);
  let off = 0;
  while (off < bytes.length) {
    const n = Number(libc.symbols.write(fd, bytes.subarray(off), BigInt(bytes.length - off)));
    if (n <= 0) {
      const e = errno();
      libc.symbols.close(fd);
      throw new Error(`Writing to memfd failed: ${strerror(e)}`);
    }
    off += n;
  }
  return fd;
}

/** mount(2); returns 0 or a negative errno. */
export function mount(source: string, target: string, fstype: string): number {
  const r = libc.symbols.mount(cstr(source), cstr(target), cstr(fstype), 0n, null);
  return r === 0 ? 0 : -errno();
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/** flock(fd, LOCK_EX | LOCK_NB): true when this process now holds the lock, false when another does. */
export function tryLockExclusive(fd: number): boolean {
  if (libc.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const e = errno();
  if (e === 11 /* EWOULDBLOCK */) return false;
  throw new Error(`flock failed: ${strerror(e)}`);
}
