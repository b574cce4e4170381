// The signing key of the kernel scenarios. The agent stops only for a shutdown signed by a key its
// policy lists, so every policy a scenario runs gets this key's public half under agent.keys, and
// the guest holds its private half at TEST_KEY_GUEST (lib.sh stop_agent signs with it).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { GuestFile } from "./initramfs.ts";
import { run } from "./run.ts";

export const TEST_KEY_GUEST = "/opt/keys/test.pem";

export interface TestKey {
  /** Host path of the private key (PKCS#8 PEM). */
  privateKey: string;
  /** The public key as the policy language takes it (base64 SubjectPublicKeyInfo). */
  publicKey: string;
}

/** A fresh Ed25519 key pair in dir, made with openssl as an operator would. */
export async function makeTestKey(dir: string): Promise<TestKey> {
  const privateKey = join(dir, "test.pem");
  await run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", privateKey]);
  const pem = await run(["openssl", "pkey", "-in", privateKey, "-pubout"]);
  const publicKey = pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
  return { privateKey, publicKey };
}

/**
 * The policy text with the test key under agent.keys: first in the list when the policy has one,
 * else in a new list right below "agent:", else in a new agent section at the end (keep the agent
 * section last, so that the lines above keep their numbers).
 */
export function withTestKey(policy: string, key: TestKey): string {
  const entry = `    - name: test\n      key: ${key.publicKey}\n      allow: [shutdown, reload]\n`;
  const keys = `  keys:\n${entry}`;
  if (/^agent:[ \t]*\n(?:.*\n)*?  keys:[ \t]*\n/m.test(policy)) return policy.replace(/^(  keys:[ \t]*\n)/m, (line) => line + entry);
  if (/^agent:/m.test(policy)) return policy.replace(/^agent:[ \t]*\n/m, (line) => line + keys);
  return `${policy.replace(/\n*$/, "\n")}agent:\n${keys}`;
}

/**
 * Guest files for policies: each host policy, with the test key added, at its guest path; and the
 * private key at TEST_KEY_GUEST.
 */
export function keyedPolicies(dir: string, key: TestKey, policies: { host: string; guest: string }[]): GuestFile[] {
  const files: GuestFile[] = [{ host: key.privateKey, guest: TEST_KEY_GUEST, mode: 0o600 }];
  policies.forEach((p, i) => {
    const copy = join(dir, `${i}-${basename(p.host)}`);
    writeFileSync(copy, withTestKey(readFileSync(p.host, "utf8"), key));
    files.push({ host: copy, guest: p.guest, mode: 0o644 });
  });
  return files;
}
