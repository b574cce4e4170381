// Unix stream sockets through libc, for the agent's control socket. Node's net server cannot tell
// who is on the other end; SO_PEERCRED can, so the server side is written against libc here.
// Every descriptor is non-blocking and close-on-exec: the caller polls, nothing ever waits.
import { dlopen, FFIType } from "bun:ffi";
import { cstr, errno, strerror } from "./libc.ts";

const { i32, u32, u64, i64, ptr } = FFIType;
const libc = dlopen("libc.so.6", {
  socket: { args: [i32, i32, i32], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  connect: { args: [i32, ptr, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  accept4: { args: [i32, ptr, ptr, i32], returns: i32 },
  getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
  recv: { args: [i32, ptr, u64, i32], returns: i64 },
  send: { args: [i32, ptr, u64, i32], returns: i64 },
  close: { args: [i32], returns: i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const MSG_DONTWAIT = 0x40;
/** No SIGPIPE when the peer has gone: the send fails with EPIPE instead. */
const MSG_NOSIGNAL = 0x4000;

export const EAGAIN = 11;
export const ENOENT = 2;
export const ECONNREFUSED = 111;

/** sun_path holds 108 bytes, the terminating NUL included. */
export const MAX_SOCKET_PATH = 107;

export class SocketError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
  ) {
    super(`${op} failed: ${strerror(errno)} (errno ${errno})`);
  }
}

function sockaddr(path: string): Buffer {
  const name = cstr(path);
  if (name.length - 1 > MAX_SOCKET_PATH) throw new RangeError(`Socket path "${path}" is ${name.length - 1} bytes; the limit is ${MAX_SOCKET_PATH}`);
  const addr = Buffer.alloc(2 + 108);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  return addr;
}

function newSocket(): number {
  const fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketError("socket", errno());
  return fd;
}

/** A listening socket bound at path. The caller sets the file's mode and unlinks it at the end. */
export function listenUnix(path: string, backlog: number): number {
  const addr = sockaddr(path);
  const fd = newSocket();
  if (libc.bind(fd, addr, addr.length) !== 0) {
    const e = errno();
    libc.close(fd);
    throw new SocketError(`bind "${path}"`, e);
  }
  if (libc.listen(fd, backlog) !== 0) {
    const e = errno();
    libc.close(fd);
    throw new SocketError("listen", e);
  }
  return fd;
}

/**
 * Is anyone listening at path? Connects without waiting: "listening" (connected, or the backlog is
 * full), "refused" (a socket file nobody listens on: left by a process that died), or an errno.
 */
export function probeUnix(path: string): "listening" | "refused" | number {
  const addr = sockaddr(path);
  const fd = newSocket();
  const r = libc.connect(fd, addr, addr.length);
  const e = r === 0 ? 0 : errno();
  libc.close(fd);
  if (r === 0 || e === EAGAIN) return "listening";
  return e === ECONNREFUSED ? "refused" : e;
}

/** Accept one connection: its descriptor, or a negative errno (-EAGAIN when none is waiting). */
export function acceptUnix(fd: number): number {
  const c = libc.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return c >= 0 ? c : -errno();
}

export interface Credentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The peer's credentials as the kernel recorded them when it connected (SO_PEERCRED). */
export function peerCredentials(fd: number): Credentials {
  const cred = new Int32Array(3); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = new Uint32Array([cred.byteLength]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0) throw new SocketError("getsockopt SO_PEERCRED", errno());
  const u = new Uint32Array(cred.buffer);
  return { pid: cred[0]!, uid: u[1]!, gid: u[2]! };
}

/** Read what is there: the byte count, 0 at end of stream, or a negative errno (-EAGAIN: nothing yet). */
export function receive(fd: number, into: Uint8Array): number {
  const n = Number(libc.recv(fd, into, BigInt(into.length), MSG_DONTWAIT));
  return n >= 0 ? n : -errno();
}

/** Write what fits: the byte count, or a negative errno (-EAGAIN: the peer's buffer is full). */
export function sendSome(fd: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const n = Number(libc.send(fd, bytes, BigInt(bytes.length), MSG_DONTWAIT | MSG_NOSIGNAL));
  return n >= 0 ? n : -errno();
}

export function closeFd(fd: number): void {
  libc.close(fd);
}
