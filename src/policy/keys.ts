// Ed25519 public keys in a policy: the raw 32 bytes in base64, or the PEM / base64 DER
// SubjectPublicKeyInfo that `openssl pkey -pubout` prints. Shared by the checker and by whatever
// verifies a signed shutdown or reload.

import nacl from "tweetnacl";
import type { Parsed } from "./net.ts";

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32 key bytes. */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
/** DER prefix of an Ed25519 PKCS#8 private key, followed by the 32 seed bytes. */
export const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

const HINT = 'write the base64 public key, or the PEM that "openssl pkey -in key.pem -pubout" prints';
const PRIVATE_HINT = "put only the public key in the policy, and keep the private key off this host";

/** The base64 DER SubjectPublicKeyInfo of a raw Ed25519 public key: what `agent.keys[].key` holds. */
export function encodeSpki(key: Uint8Array): string {
  const der = new Uint8Array(SPKI_PREFIX.length + key.length);
  der.set(SPKI_PREFIX);
  der.set(key, SPKI_PREFIX.length);
  return Buffer.from(der).toString("base64");
}

function startsWith(b: Uint8Array, prefix: Uint8Array): boolean {
  return b.length >= prefix.length && prefix.every((x, i) => b[i] === x);
}

export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

export function parsePublicKey(text: string): Parsed<Uint8Array> {
  let body = text.trim();
  if (/PRIVATE KEY/.test(body) || body.startsWith("-----BEGIN OPENSSH"))
    return { ok: false, message: "This is a private key", hint: PRIVATE_HINT };
  const pem = /^-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----$/.exec(body);
  if (body.startsWith("-----")) {
    if (!pem) return { ok: false, message: "Malformed PEM public key", hint: HINT };
    body = pem[1]!.replace(/\s+/g, "");
  }
  if (body.startsWith("ssh-ed25519 "))
    return { ok: false, message: "OpenSSH public keys are not supported", hint: HINT };
  const bytes = decodeBase64(body);
  if (!bytes) return { ok: false, message: "Public key is not valid base64", hint: HINT };
  let key: Uint8Array;
  if (bytes.length === nacl.sign.publicKeyLength) key = bytes;
  else if (bytes.length === SPKI_PREFIX.length + nacl.sign.publicKeyLength && startsWith(bytes, SPKI_PREFIX))
    key = bytes.slice(SPKI_PREFIX.length);
  else if (bytes.length === nacl.sign.secretKeyLength || (bytes.length === 48 && startsWith(bytes, PKCS8_PREFIX)))
    return { ok: false, message: "This is a private key", hint: PRIVATE_HINT };
  else
    return {
      ok: false,
      message: `Public key is ${bytes.length} bytes; an Ed25519 public key is ${nacl.sign.publicKeyLength}`,
      hint: HINT,
    };
  if (key.every((b) => b === 0)) return { ok: false, message: "Public key is all zeros", hint: "generate a real key pair" };
  return { ok: true, value: key };
}
