// Private keys that sign a shutdown or a reload, and the key pairs `bomfather keygen` writes.
//
// Two formats are read: the PKCS#8 PEM that `openssl genpkey -algorithm ed25519` writes (through
// node:crypto), and the unencrypted OpenSSH key that `ssh-keygen -t ed25519 -N ''` writes
// (node:crypto does not read the openssh-key-v1 container, so it is parsed here). Everything else
// is refused with a ControlError naming what was given. The public side, and the base64 SPKI that
// `agent.keys` holds, come from src/policy/keys.ts.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { encodeSpki, parsePublicKey, PKCS8_PREFIX } from "../policy/keys.ts";
import { KEY_OPERATIONS, NAME, NAME_HINT } from "../policy/words.ts";
import { ControlError } from "./error.ts";

/** An Ed25519 key pair ready to sign. */
export interface SigningKey {
  /** The 32-byte public key. */
  publicKey: Uint8Array;
  /** The 64-byte Ed25519 signature of message (RFC 8032: the same bytes tweetnacl makes). */
  sign(message: Uint8Array): Uint8Array;
  /** What the key file was, for messages: "PKCS#8 PEM" or "OpenSSH". */
  format: string;
}

const q = (s: string) => JSON.stringify(s);

const WANTED =
  'expected an Ed25519 private key: the PEM that "openssl genpkey -algorithm ed25519" writes ' +
  '(BEGIN PRIVATE KEY), or an unencrypted key from "ssh-keygen -t ed25519" (BEGIN OPENSSH PRIVATE KEY)';
const MAKE_ONE = 'create one with "bomfather keygen NAME", "ssh-keygen -t ed25519" or "openssl genpkey -algorithm ed25519"';

/**
 * SSH-style fingerprint of an Ed25519 public key, "SHA256:" and the unpadded base64 of the SHA-256
 * of its SSH wire form: the same text `ssh-keygen -l` prints for the key.
 */
export function fingerprint(publicKey: Uint8Array): string {
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(publicKey)]);
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

function sshString(b: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/**
 * A key pair from its seed, through node:crypto: the requester signs natively (tweetnacl's
 * JavaScript costs tens of milliseconds for the pair and the signature, a large share of a
 * `bomfather reload` under a slow CPU); the agent verifies with tweetnacl and checks beyond it
 * (src/control/protocol.ts).
 */
function fromSeed(seed: Uint8Array, format: string): SigningKey {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return { publicKey: new Uint8Array(spki.subarray(spki.length - 32)), sign: (message) => new Uint8Array(sign(null, message, key)), format };
}

/** Read and parse a private key file; throws ControlError with what was wrong and a hint. */
export function readPrivateKey(file: string): SigningKey {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code ?? e);
    throw new ControlError(`Cannot read key ${q(file)}: ${why}`, "give the path of the private key file, for example --sign ops.pem");
  }
  return parsePrivateKey(data, file);
}

/** Parse the bytes of a private key file; `name` only names it in messages. */
export function parsePrivateKey(data: Uint8Array, name: string): SigningKey {
  const text = Buffer.from(data).toString("latin1").trim();
  const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (label === "OPENSSH PRIVATE KEY") return parseOpenSsh(text, name);
  if (label === "ENCRYPTED PRIVATE KEY")
    throw new ControlError(`Key ${q(name)} is encrypted (PKCS#8 with a passphrase)`, `bomfather reads unencrypted keys only: decrypt a copy with "openssl pkey -in ${name} -out PLAIN.pem", or keep the key on an offline machine and use "bomfather sign" there`);
  if (label === "PUBLIC KEY" || label === "SSH2 PUBLIC KEY" || /^ssh-[a-z0-9-]+ AAAA/.test(text) || /^(ecdsa|sk)-[a-z0-9.@-]+ AAAA/.test(text))
    throw new ControlError(`Key ${q(name)} is a public key; signing needs the private key`, /^(ssh|ecdsa|sk)-/.test(text) ? `give the private key file (for OpenSSH, the same name without ".pub")` : "give the private key file; the public key belongs in the policy under agent.keys");
  if (label === undefined && !text.includes("-----BEGIN") && parsePublicKey(text).ok)
    throw new ControlError(`Key ${q(name)} is a public key; signing needs the private key`, "give the private key file; the public key belongs in the policy under agent.keys");

  let key: KeyObject;
  try {
    key = label !== undefined ? createPrivateKey({ key: text, format: "pem" }) : createPrivateKey({ key: Buffer.from(data), format: "der", type: "pkcs8" });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_MISSING_PASSPHRASE")
      throw new ControlError(`Key ${q(name)} is encrypted`, `bomfather reads unencrypted Ed25519 keys only; ${MAKE_ONE}`);
    if (code === "ERR_OSSL_EVP_UNSUPPORTED_ALGORITHM")
      throw new ControlError(`Key ${q(name)} is not an Ed25519 key (its algorithm is not one bomfather reads)`, MAKE_ONE);
    throw new ControlError(`Key ${q(name)} is not a private key file bomfather reads`, WANTED);
  }
  if (key.type !== "private") throw new ControlError(`Key ${q(name)} is a public key; signing needs the private key`, "give the private key file");
  const kind = key.asymmetricKeyType;
  if (kind !== "ed25519") {
    const what = kind === "rsa" || kind === "rsa-pss" ? "an RSA" : kind === "ec" ? "an ECDSA" : kind === "dsa" ? "a DSA" : `an ${q(String(kind))}`;
    throw new ControlError(`Key ${q(name)} is ${what} key; bomfather signs with Ed25519 keys only`, MAKE_ONE);
  }
  const jwk = key.export({ format: "jwk" });
  const seed = Buffer.from(String(jwk.d), "base64url");
  if (seed.length !== 32) throw new ControlError(`Key ${q(name)} holds a ${seed.length}-byte Ed25519 seed; expected 32`, WANTED);
  return fromSeed(seed, "PKCS#8 PEM");
}

/** A reader of the SSH wire types (RFC 4251 section 5) over one buffer. */
class SshReader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  get rest(): number {
    return this.b.length - this.at;
  }
  u32(): number {
    if (this.rest < 4) throw new RangeError("truncated");
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.rest < n) throw new RangeError("truncated");
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  text(): string {
    return this.bytes().toString("latin1");
  }
  tail(): Buffer {
    return this.b.subarray(this.at);
  }
}

const OPENSSH_MAGIC = Buffer.from("openssh-key-v1\0", "latin1");

/** What an OpenSSH key type is, in words, for refusals. */
function sshKeyKind(type: string): string {
  if (type === "ssh-rsa") return "an RSA";
  if (type.startsWith("ecdsa-sha2-")) return "an ECDSA";
  if (type === "ssh-dss") return "a DSA";
  if (type.startsWith("sk-")) return "a security-key (FIDO)";
  return `a ${q(type)}`;
}

/** The openssh-key-v1 container (OpenSSH's PROTOCOL.key), unencrypted, one Ed25519 key. */
function parseOpenSsh(text: string, name: string): SigningKey {
  const m = /^-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----$/.exec(text);
  const bad = (why: string) => new ControlError(`Key ${q(name)} is a damaged OpenSSH private key (${why})`, WANTED);
  if (!m) throw bad("no END line");
  const body = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  if (!body.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) throw bad("not openssh-key-v1");
  try {
    const r = new SshReader(body.subarray(OPENSSH_MAGIC.length));
    const cipher = r.text();
    const kdf = r.text();
    r.bytes(); // kdf options
    const count = r.u32();
    if (count !== 1) throw bad(`${count} keys in one file`);
    const pub = new SshReader(r.bytes());
    const type = pub.text();
    if (type !== "ssh-ed25519") throw new ControlError(`Key ${q(name)} is ${sshKeyKind(type)} OpenSSH key (${q(type)}); bomfather signs with Ed25519 keys only`, type.startsWith("sk-") ? "a security key keeps its private half in the token; use a software Ed25519 key: ssh-keygen -t ed25519" : MAKE_ONE);
    if (cipher !== "none" || kdf !== "none")
      throw new ControlError(`Key ${q(name)} is an encrypted OpenSSH key (cipher ${q(cipher)})`, `bomfather reads unencrypted keys only: remove the passphrase from a copy ("cp ${name} PLAIN && ssh-keygen -p -N '' -f PLAIN"), or keep the key on an offline machine and use "bomfather sign" there`);
    const publicKey = pub.bytes();
    const priv = new SshReader(r.bytes());
    if (r.rest !== 0) throw bad("trailing bytes");
    if (priv.u32() !== priv.u32()) throw bad("check words differ");
    if (priv.text() !== type) throw bad("private and public key types differ");
    const privPub = priv.bytes();
    const secret = priv.bytes();
    priv.bytes(); // comment
    const padding = priv.tail();
    if (!padding.every((b, i) => b === i + 1)) throw bad("bad padding");
    if (publicKey.length !== 32 || privPub.length !== 32 || secret.length !== 64) throw bad("wrong key sizes");
    const key = fromSeed(secret.subarray(0, 32), "OpenSSH");
    if (!Buffer.from(key.publicKey).equals(publicKey) || !privPub.equals(publicKey) || !secret.subarray(32).equals(publicKey))
      throw bad("the public key does not match the private key");
    return key;
  } catch (e) {
    if (e instanceof RangeError) throw bad("truncated");
    throw e;
  }
}

/** The lines to paste under `agent.keys` for a public key. */
export function policyKeyLines(name: string, publicKey: Uint8Array): string {
  return `    - name: ${name}\n      key: ${encodeSpki(publicKey)}\n      allow: [${KEY_OPERATIONS.join(", ")}]\n`;
}

export interface WrittenKeyPair {
  name: string;
  privateFile: string;
  publicFile: string;
  publicKey: Uint8Array;
}

/**
 * Write a new key pair: BASE.pem (PKCS#8, mode 0600) and BASE.pub.pem (SPKI). The key's name in
 * the policy is the last component of BASE. Refuses to overwrite either file.
 */
export function writeKeyPair(base: string): WrittenKeyPair {
  const name = basename(base);
  if (!NAME.test(name)) throw new ControlError(`Invalid key name ${q(name)}`, NAME_HINT);
  const privateFile = `${base}.pem`;
  const publicFile = `${base}.pub.pem`;
  for (const f of [privateFile, publicFile])
    if (existsSync(f)) throw new ControlError(`Refusing to overwrite ${q(f)}`, "choose another name, or move the old key away first");
  const pair = generateKeyPairSync("ed25519", {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const publicKey = parsePrivateKey(Buffer.from(pair.privateKey), privateFile).publicKey;
  // "wx": fail rather than follow a file or link created since the check above.
  writeNew(privateFile, pair.privateKey, 0o600);
  try {
    writeNew(publicFile, pair.publicKey, 0o644);
  } catch (e) {
    rmSync(privateFile, { force: true });
    throw e;
  }
  return { name, privateFile, publicFile, publicKey };
}

function writeNew(file: string, text: string, mode: number): void {
  try {
    writeFileSync(file, text, { mode, flag: "wx" });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" ? "it already exists" : code === "ENOENT" ? "its directory does not exist" : code === "EACCES" ? "permission denied" : String(code ?? e);
    throw new ControlError(`Cannot write ${q(file)}: ${why}`, "choose a writable directory and a new name");
  }
}
