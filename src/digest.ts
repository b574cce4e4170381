// The fs-verity digest of a file's content, computed in user space: what `fsverity digest FILE`
// (fsverity-utils) prints with its defaults, and what a policy's `digest: sha256:<hex>` names.
// The file needs no fs-verity; the format is the kernel's (Documentation/filesystems/fsverity.rst):
//
//   - Merkle tree, SHA-256, 4096-byte blocks, no salt. The content is cut into 4096-byte blocks
//     (the last one padded with zeros) and each block is hashed; the hashes, concatenated, are cut
//     into blocks the same way and hashed, level after level, until a level is one block. The
//     root hash is that block's hash (for content of one block or less: the hash of that data
//     block). Empty content has no tree: its root hash is all zeros.
//   - The digest is the SHA-256 of the 256-byte fsverity_descriptor: version 1, hash algorithm 1
//     (SHA-256), log2 of the block size (12), salt size 0, 4 reserved zero bytes, the content's
//     size as a little-endian u64, the root hash padded with zeros to 64 bytes, 32 bytes of
//     (absent) salt and 144 reserved bytes, all zero.
//
// Content is consumed in pieces (a file is read 1 MiB at a time): memory stays at one pending
// block per tree level, whatever the size.

import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { kindOf } from "./policy/read.ts";

const BLOCK = 4096;
const LOG_BLOCK = 12;
const HASH = 32; // SHA-256
const ALGORITHM_SHA256 = 1;
const DESCRIPTOR = 256;
const READ_CHUNK = 1024 * 1024;

const sha256 = (data: Uint8Array): Buffer => createHash("sha256").update(data).digest();

/** One level of the tree: the block being filled and how many blocks this level has hashed. */
interface Level {
  pending: Buffer;
  filled: number;
  blocks: number;
  /** The hash of the last block this level hashed: the root hash when it hashed just one. */
  last: Buffer | undefined;
}

/** Incremental fs-verity digest (SHA-256, 4096-byte blocks, no salt): update() with the content in order, then digest(). */
export class FsverityDigest {
  /** levels[0] holds content, levels[i + 1] the hashes of levels[i]'s blocks. */
  private readonly levels: Level[] = [];
  private size = 0n;
  private done = false;

  update(bytes: Uint8Array): this {
    if (this.done) throw new Error("FsverityDigest: update() after digest()");
    this.size += BigInt(bytes.length);
    this.append(0, bytes);
    return this;
  }

  /** The 32-byte digest. */
  digest(): Buffer {
    if (this.done) throw new Error("FsverityDigest: digest() called twice");
    this.done = true;
    const root = Buffer.alloc(64); // all zeros: the root hash of empty content
    // Hash each level's last, partial block upwards; the first level of a single block is the top.
    for (let i = 0; i < this.levels.length; i++) {
      const level = this.levels[i]!;
      if (level.filled > 0) this.hashBlock(i);
      if (level.blocks === 1) {
        level.last!.copy(root);
        break;
      }
    }
    const d = Buffer.alloc(DESCRIPTOR);
    d[0] = 1; // version
    d[1] = ALGORITHM_SHA256;
    d[2] = LOG_BLOCK;
    d[3] = 0; // salt size; bytes 4..7 reserved
    d.writeBigUInt64LE(this.size, 8);
    root.copy(d, 16); // root_hash[64] at 16, salt[32] at 80, reserved[144] at 112: zero
    return sha256(d);
  }

  /** The digest as `fsverity digest` prints it: "sha256:" and 64 lowercase hex digits. */
  hex(): string {
    return `sha256:${this.digest().toString("hex")}`;
  }

  private level(i: number): Level {
    let level = this.levels[i];
    if (!level) {
      level = { pending: Buffer.alloc(BLOCK), filled: 0, blocks: 0, last: undefined };
      this.levels[i] = level;
    }
    return level;
  }

  private append(i: number, bytes: Uint8Array): void {
    const level = this.level(i);
    let at = 0;
    while (at < bytes.length) {
      // Whole blocks straight from the input when nothing is pending: no copy.
      if (level.filled === 0 && bytes.length - at >= BLOCK) {
        this.hashed(i, sha256(bytes.subarray(at, at + BLOCK)));
        at += BLOCK;
        continue;
      }
      const n = Math.min(BLOCK - level.filled, bytes.length - at);
      level.pending.set(bytes.subarray(at, at + n), level.filled);
      level.filled += n;
      at += n;
      if (level.filled === BLOCK) this.hashBlock(i);
    }
  }

  /** Hash level i's pending block, padded with zeros. */
  private hashBlock(i: number): void {
    const level = this.levels[i]!;
    level.pending.fill(0, level.filled);
    level.filled = 0;
    this.hashed(i, sha256(level.pending));
  }

  private hashed(i: number, hash: Buffer): void {
    const level = this.levels[i]!;
    level.blocks++;
    level.last = hash;
    this.append(i + 1, hash);
  }
}

/** The fs-verity digest ("sha256:<hex>") of content given in pieces, in order. */
export async function digestStream(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<string> {
  const d = new FsverityDigest();
  for await (const chunk of chunks) d.update(chunk);
  return d.hex();
}

/** Why a file's digest cannot be computed: message names the file, hint says what to do. */
export class DigestError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/**
 * The fs-verity digest ("sha256:<hex>") of the regular file at `file` (symbolic links followed).
 * A directory, FIFO, device or socket is refused before anything is read; opening does not wait
 * for a FIFO's writer. Throws DigestError.
 */
export function digestFile(file: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw failure(file, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new DigestError(`Cannot digest ${JSON.stringify(file)}: it is ${kindOf(st)}, not a regular file`, "give the path of a program's file (fs-verity digests regular files only)");
    const d = new FsverityDigest();
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw failure(file, e);
      }
      if (n === 0) break;
      d.update(buf.subarray(0, n));
    }
    return d.hex();
  } finally {
    closeSync(fd);
  }
}

function failure(file: string, e: unknown): DigestError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
        ? "permission denied"
        : code === "ENOTDIR"
          ? "a component of the path is not a directory"
          : code === "EISDIR"
            ? "it is a directory, not a regular file"
            : code === "ELOOP"
              ? "too many levels of symbolic links"
              : String(code ?? (e instanceof Error ? e.message : e));
  const hint = code === "EACCES" ? "check the file's permissions (reading it needs read access)" : code === "EISDIR" ? "give the path of a program's file" : "check the path";
  return new DigestError(`Cannot digest ${JSON.stringify(file)}: ${why}`, hint);
}
