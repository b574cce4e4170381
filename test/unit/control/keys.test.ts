// Private key files as real tools write them (openssl, ssh-keygen), and the pairs keygen writes.
import { beforeAll, describe, expect, test } from "bun:test";
import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nacl from "tweetnacl";
import { ControlError } from "../../../src/control/error.ts";
import { fingerprint, parsePrivateKey, policyKeyLines, readPrivateKey, writeKeyPair, type SigningKey } from "../../../src/control/keys.ts";
import { checkPolicy, parsePublicKey } from "../../../src/policy/index.ts";

const dir = mkdtempSync(join(tmpdir(), "bomfather-keys-"));
const at = (name: string) => join(dir, name);

function sh(...argv: string[]): string {
  const p = Bun.spawnSync(argv, { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

function refusal(file: string): ControlError {
  try {
    readPrivateKey(at(file));
  } catch (e) {
    if (e instanceof ControlError) return e;
    throw e;
  }
  throw new Error(`${file} was accepted`);
}

beforeAll(() => {
  sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", "ossl.pem");
  sh("openssl", "pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pub.pem");
  sh("openssl", "pkey", "-in", "ossl.pem", "-outform", "DER", "-out", "ossl.der");
  sh("openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:secret", "-out", "ossl-enc.pem");
  sh("openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "rsa.pem");
  sh("openssl", "genrsa", "-traditional", "-out", "rsa-traditional.pem", "1024");
  sh("openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem");
  sh("openssl", "genpkey", "-algorithm", "ed448", "-out", "ed448.pem");
  sh("openssl", "genpkey", "-algorithm", "x25519", "-out", "x25519.pem");
  sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@laptop", "-f", "ssh-ed");
  sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "passphrase", "-f", "ssh-ed-enc");
  sh("ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", "ssh-rsa");
  sh("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", "ssh-ecdsa");
});

/**
 * The key signs (through node:crypto), and both the agent's verifier (tweetnacl) and node:crypto
 * accept the signature with the given public key.
 */
function signsFor(key: SigningKey, publicPem: string): boolean {
  const msg = Buffer.from("bomfather key test");
  const sig = key.sign(msg);
  const pub = parsePublicKey(publicPem);
  return pub.ok && nacl.sign.detached.verify(msg, sig, pub.value) && verify(null, msg, createPublicKey(publicPem), sig);
}

describe("keys that are read", () => {
  test("openssl genpkey -algorithm ed25519 (PKCS#8 PEM)", () => {
    const key = readPrivateKey(at("ossl.pem"));
    expect(key.format).toBe("PKCS#8 PEM");
    const pub = parsePublicKey(readFileSync(at("ossl.pub.pem"), "utf8"));
    expect(pub.ok && Buffer.from(pub.value).equals(key.publicKey)).toBe(true);
    expect(signsFor(key, readFileSync(at("ossl.pub.pem"), "utf8"))).toBe(true);
  });

  test("the same key as binary DER PKCS#8", () => {
    expect(readPrivateKey(at("ossl.der")).publicKey).toEqual(readPrivateKey(at("ossl.pem")).publicKey);
  });

  test("ssh-keygen -t ed25519 -N '' (OpenSSH), with the fingerprint ssh-keygen prints", () => {
    const key = readPrivateKey(at("ssh-ed"));
    expect(key.format).toBe("OpenSSH");
    const blob = Buffer.from(readFileSync(at("ssh-ed.pub"), "utf8").split(" ")[1]!, "base64");
    expect(Buffer.from(key.publicKey).equals(blob.subarray(blob.length - 32))).toBe(true);
    const pem = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(key.publicKey).toString("base64url") }, format: "jwk" });
    expect(signsFor(key, pem.export({ type: "spki", format: "pem" }).toString())).toBe(true);
    const printed = sh("ssh-keygen", "-l", "-f", "ssh-ed.pub").split(" ")[1];
    expect(fingerprint(key.publicKey)).toBe(printed!);
  });
});

describe("keys that are refused, naming what was given", () => {
  test.each([
    ["ossl-enc.pem", /is encrypted \(PKCS#8 with a passphrase\)/, /unencrypted keys only/],
    ["ssh-ed-enc", /is an encrypted OpenSSH key \(cipher "aes256-ctr"\)/, /ssh-keygen -p -N ''/],
    ["rsa.pem", /is an RSA key; bomfather signs with Ed25519 keys only/, /bomfather keygen NAME/],
    ["rsa-traditional.pem", /is an RSA key/, /ssh-keygen -t ed25519/],
    ["ec.pem", /is an ECDSA key/, /openssl genpkey -algorithm ed25519/],
    ["ed448.pem", /is not an Ed25519 key/, /keygen/],
    ["x25519.pem", /is an "x25519" key/, /keygen/],
    ["ssh-rsa", /is an RSA OpenSSH key \("ssh-rsa"\)/, /keygen/],
    ["ssh-ecdsa", /is an ECDSA OpenSSH key \("ecdsa-sha2-nistp256"\)/, /keygen/],
    ["ossl.pub.pem", /is a public key; signing needs the private key/, /policy under agent\.keys/],
    ["ssh-ed.pub", /is a public key/, /without "\.pub"/],
  ])("%s", (file, message, hint) => {
    const e = refusal(file);
    expect(e.message).toContain(`Key "${at(file)}"`);
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(hint);
  });

  test("a raw base64 public key", () => {
    writeFileSync(at("raw.pub"), Buffer.from(readPrivateKey(at("ossl.pem")).publicKey).toString("base64") + "\n");
    expect(refusal("raw.pub").message).toMatch(/is a public key/);
  });

  test("garbage, an empty file, a missing file", () => {
    writeFileSync(at("garbage"), "hello world\n");
    writeFileSync(at("empty"), "");
    expect(refusal("garbage").message).toMatch(/is not a private key file bomfather reads/);
    expect(refusal("garbage").hint).toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    expect(refusal("empty").message).toMatch(/is not a private key file/);
    expect(refusal("missing").message).toMatch(/^Cannot read key ".*missing": no such file$/);
  });

  test("a truncated or tampered OpenSSH key", () => {
    const text = readFileSync(at("ssh-ed"), "utf8");
    const lines = text.trim().split("\n");
    writeFileSync(at("ssh-truncated"), [...lines.slice(0, 3), lines.at(-1)].join("\n"));
    expect(refusal("ssh-truncated").message).toMatch(/is a damaged OpenSSH private key/);
    // Flip one bit of the stored public key (the first copy, in the public section).
    const body = Buffer.from(lines.slice(1, -1).join(""), "base64");
    const pubAt = body.indexOf(Buffer.from("ssh-ed25519")) + 11 + 4;
    body[pubAt]! ^= 1;
    writeFileSync(at("ssh-tampered"), `${lines[0]}\n${body.toString("base64")}\n${lines.at(-1)}\n`);
    expect(refusal("ssh-tampered").message).toMatch(/damaged OpenSSH private key \(the public key does not match the private key\)/);
  });

  test("bytes that are not text", () => {
    expect(() => parsePrivateKey(new Uint8Array([0x30, 0x82, 0xff, 0, 1, 2]), "blob")).toThrow(/Key "blob" is not a private key file/);
  });
});

describe("keygen", () => {
  test("writes a 0600 PKCS#8 key and its public half, and lines a policy accepts", () => {
    const pair = writeKeyPair(at("ops-oncall"));
    expect(pair.name).toBe("ops-oncall");
    expect(statSync(pair.privateFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(pair.privateFile, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    const key = readPrivateKey(pair.privateFile);
    expect(key.publicKey).toEqual(pair.publicKey);
    // openssl agrees about the public half.
    expect(sh("openssl", "pkey", "-in", pair.privateFile, "-pubout")).toBe(readFileSync(pair.publicFile, "utf8"));

    const lines = policyKeyLines(pair.name, pair.publicKey);
    expect(lines).toMatch(/^    - name: ops-oncall\n      key: MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=\n      allow: \[shutdown, reload\]\n$/);
    const { policy, diagnostics } = checkPolicy(`version: 1\nagent:\n  keys:\n${lines}`, "p.yaml");
    expect(diagnostics).toEqual([]);
    const listed = parsePublicKey(policy!.agent!.keys![0]!.key);
    expect(listed.ok && Buffer.from(listed.value).equals(key.publicKey)).toBe(true);
  });

  test("refuses to overwrite either file, and names that are not policy names", () => {
    writeFileSync(at("taken.pub.pem"), "x");
    expect(() => writeKeyPair(at("taken"))).toThrow('Refusing to overwrite "' + at("taken.pub.pem") + '"');
    expect(() => readFileSync(at("taken.pem"))).toThrow();
    writeKeyPair(at("twice"));
    expect(() => writeKeyPair(at("twice"))).toThrow(/Refusing to overwrite/);
    expect(() => writeKeyPair(at("-bad name"))).toThrow('Invalid key name "-bad name"');
    expect(() => writeKeyPair(join(dir, "no-such-dir", "k"))).toThrow(/its directory does not exist/);
  });
});

test("a key read from a file signs the bytes tweetnacl makes for its seed (RFC 8032 section 7.1, test 1)", () => {
  const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
  const key = parsePrivateKey(Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), "rfc.der");
  const pair = nacl.sign.keyPair.fromSeed(seed);
  expect(Buffer.from(key.publicKey).toString("hex")).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  for (const msg of [new Uint8Array(0), Buffer.from("bomfather"), new Uint8Array(1000).fill(7)]) {
    expect(Buffer.from(key.sign(msg)).equals(Buffer.from(nacl.sign.detached(msg, pair.secretKey)))).toBe(true);
  }
});
