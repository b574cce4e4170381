// Signed shutdown and reload: the challenge, the response, and the agent's verifier.
//
// The whole wire format of a signed request is in this file. The agent issues a challenge (a random
// single-use nonce plus what it binds); the holder of a private key listed under `agent.keys`
// signs it; the agent checks the response against the challenge it still holds.
//
// The signed message is a list of fields, each a 4-byte big-endian length followed by its bytes,
// in this order, nothing before, between or after:
//
//   0 domain          "bomfather-control-v1" (this format and its version)
//   1 action          "shutdown" or "reload"
//   2 policy sha256   reload: the SHA-256 of the exact bytes of the new policy (32 bytes);
//                     shutdown: empty
//   3 host            the agent's host name, UTF-8 (shown to the signer; bound, not trusted)
//   4 boot id         /proc/sys/kernel/random/boot_id as 16 bytes: this host, this boot
//   5 run id          16 random bytes drawn when the agent started: this run of the agent
//   6 nonce           32 random bytes, one per challenge
//   7 expires         8 bytes, big-endian: the agent's monotonic clock (ns) after which the
//                     challenge is void; meaningful only to the run that issued it
//
// A challenge is that message; a response is the same fields followed by 8 the signer's public
// key (32 bytes) and 9 the Ed25519 signature (64 bytes) of fields 0 to 7. Both travel as one line
// of text, "bomfather-challenge-v1:" or "bomfather-response-v1:" and the base64url of the bytes,
// so they can be copied between machines (whitespace inside is ignored).

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import nacl from "tweetnacl";
import { startupCode } from "../jit.ts";
import { MAX_POLICY_BYTES } from "../policy/decode.ts";
import type { Policy } from "../policy/index.ts";
import { parsePublicKey } from "../policy/keys.ts";
import { KEY_OPERATIONS } from "../policy/words.ts";
import { fingerprint, type SigningKey } from "./keys.ts";

// The agent verifies one signature per request. tweetnacl's field arithmetic reached the engine's
// top tier during the first reload after a start (M, its unrolled multiplication, some 8,000
// bytecodes): compiling it there took 0.19 s of the bench's VM. Its exported functions stay in
// the tier below (src/jit.ts): that first reload 1.34 -> 1.27 s, later ones unchanged (6.1).
startupCode((nacl as unknown as { lowlevel: object }).lowlevel);

export const DOMAIN = "bomfather-control-v1";
export const CHALLENGE_PREFIX = "bomfather-challenge-v1:";
export const RESPONSE_PREFIX = "bomfather-response-v1:";

export type Action = (typeof KEY_OPERATIONS)[number];
export const ACTIONS: readonly Action[] = KEY_OPERATIONS;

/** How long a challenge may be answered: long enough to carry it to an offline signer and back. */
export const CHALLENGE_TTL_NS = 300n * 1_000_000_000n;
/** At most this many challenges are outstanding at once (see Challenges.issue). */
export const MAX_OUTSTANDING = 32;
/** Answered, expired and pushed-out nonces remembered, so a refusal can say which it was. */
const REMEMBERED = 256;

const SIZES = { policySha256: 32, bootId: 16, runId: 16, nonce: 32, expires: 8, publicKey: 32, signature: 64 } as const;
const MAX_HOST_BYTES = 255;
const MESSAGE_FIELDS = 8;
const RESPONSE_FIELDS = 10;

export interface Challenge {
  action: Action;
  /** Reload: SHA-256 of the new policy's bytes. Shutdown: null. */
  policySha256: Uint8Array | null;
  host: string;
  bootId: Uint8Array;
  runId: Uint8Array;
  nonce: Uint8Array;
  /** The issuing agent's process.hrtime.bigint() after which the challenge is void. */
  expires: bigint;
}

export interface Response {
  challenge: Challenge;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** Why a response (or a request) is refused. Each reason is one class of the threat model. */
export const REASONS = [
  "malformed", // not a response this version can read
  "other-version", // made by another version of the format
  "other-host", // another host, or this host before a reboot
  "other-run", // another run of the agent (it restarted since the challenge)
  "unknown-challenge", // never issued by this run, or pushed out by newer challenges
  "replayed", // already answered
  "expired", // answered too late
  "other-action", // signs a shutdown sent as a reload, or the reverse
  "policy-mismatch", // the policy sent is not the one signed for
  "no-key", // no key in the running policy may do this action
  "unknown-key", // signed by a key not in the running policy
  "key-not-allowed", // the key may not do this action
  "non-canonical-signature", // S not reduced, or a small-order point: a rewritten signature
  "bad-signature", // does not verify
] as const;
export type Reason = (typeof REASONS)[number];

export interface Refusal {
  reason: Reason;
  message: string;
  hint?: string;
}

/** A key of the running policy, as the verifier needs it. */
export interface PolicyKey {
  name: string;
  publicKey: Uint8Array;
  allow: readonly Action[];
}

/** Who signed, for events. */
export interface KeyInfo {
  name: string;
  fingerprint: string;
}

export interface AgentIdentity {
  host: string;
  bootId: Uint8Array;
  runId: Uint8Array;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

const q = (s: string) => JSON.stringify(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const same = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : Buffer.from(a).equals(b));
/** A short, stable name for a challenge in messages: the first 6 bytes of its nonce. */
export const challengeId = (c: Challenge) => hex(c.nonce.subarray(0, 6));

const NEW_CHALLENGE = 'ask for a new challenge ("bomfather shutdown --challenge", or "bomfather reload --policy FILE --challenge")';

// --- identity -------------------------------------------------------------------------------

export const BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";

export function parseUuid(text: string): Uint8Array | undefined {
  const t = text.trim().toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t)) return undefined;
  return Buffer.from(t.replace(/-/g, ""), "hex");
}

export function formatUuid(b: Uint8Array): string {
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** This host and boot, and a fresh random id for this run of the agent. Call once at start. */
export function agentIdentity(bootIdFile = BOOT_ID_FILE): AgentIdentity {
  const bootId = parseUuid(readFileSync(bootIdFile, "utf8"));
  if (!bootId) throw new Error(`${bootIdFile} does not hold a UUID`);
  // The name is only shown to signers; a host without one still needs a field that parses.
  const host = hostname().replace(/[\x00-\x1f\x7f]/g, "").slice(0, 64) || "unnamed";
  return { host, bootId, runId: randomBytes(SIZES.runId) };
}

// --- encoding -------------------------------------------------------------------------------

function u64be(n: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function encodeFields(fields: Uint8Array[]): Uint8Array {
  const out = Buffer.alloc(fields.reduce((n, f) => n + 4 + f.length, 0));
  let at = 0;
  for (const f of fields) {
    out.writeUInt32BE(f.length, at);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

function messageFields(c: Challenge): Uint8Array[] {
  return [
    Buffer.from(DOMAIN, "latin1"),
    Buffer.from(c.action, "latin1"),
    c.policySha256 ?? new Uint8Array(0),
    Buffer.from(c.host, "utf8"),
    c.bootId,
    c.runId,
    c.nonce,
    u64be(c.expires),
  ];
}

/** The exact bytes a signer signs for this challenge. */
export function encodeMessage(c: Challenge): Uint8Array {
  return encodeFields(messageFields(c));
}

function decodeFields(bytes: Uint8Array): Uint8Array[] | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Uint8Array[] = [];
  let at = 0;
  while (at < b.length) {
    if (b.length - at < 4 || fields.length === RESPONSE_FIELDS) return undefined;
    const n = b.readUInt32BE(at);
    if (n > b.length - at - 4) return undefined;
    fields.push(b.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return fields;
}

const malformed = (message: string, hint = NEW_CHALLENGE): { ok: false; refusal: Refusal } => ({ ok: false, refusal: { reason: "malformed", message, hint } });

function decodeMessage(fields: Uint8Array[], what: string): Parsed<Challenge> {
  const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
  const domain = text(fields[0]!);
  if (domain !== DOMAIN) {
    if (/^bomfather-control-v[0-9]+$/.test(domain))
      return { ok: false, refusal: { reason: "other-version", message: `${what} is in format ${q(domain)}; this bomfather reads ${q(DOMAIN)}`, hint: "use the same version of bomfather on both sides" } };
    return malformed(`${what} does not start with ${q(DOMAIN)}`);
  }
  const action = text(fields[1]!);
  if (!(ACTIONS as readonly string[]).includes(action)) return malformed(`${what} names an unknown action ${q(action)}`);
  const hash = fields[2]!;
  if (action === "reload" && hash.length !== SIZES.policySha256) return malformed(`${what} is a reload without a policy SHA-256`);
  if (action === "shutdown" && hash.length !== 0) return malformed(`${what} is a shutdown with a policy SHA-256`);
  const host = fields[3]!;
  if (host.length === 0 || host.length > MAX_HOST_BYTES) return malformed(`${what} has a host name of ${host.length} bytes`);
  const hostText = new TextDecoder("utf-8", { fatal: false }).decode(host);
  if (!Buffer.from(hostText, "utf8").equals(host) || /[\x00-\x1f\x7f]/.test(hostText)) return malformed(`${what} has a host name that is not printable UTF-8`);
  for (const [i, k] of [[4, "bootId"], [5, "runId"], [6, "nonce"], [7, "expires"]] as const) {
    if (fields[i]!.length !== SIZES[k]) return malformed(`${what} has a ${k} of ${fields[i]!.length} bytes; expected ${SIZES[k]}`);
  }
  return {
    ok: true,
    value: {
      action: action as Action,
      policySha256: action === "reload" ? Uint8Array.from(hash) : null,
      host: hostText,
      bootId: Uint8Array.from(fields[4]!),
      runId: Uint8Array.from(fields[5]!),
      nonce: Uint8Array.from(fields[6]!),
      expires: Buffer.from(fields[7]!).readBigUInt64BE(),
    },
  };
}

function decodeText(text: string, prefix: string, what: string): Parsed<Uint8Array[]> {
  const t = text.replace(/\s+/g, "");
  if (!t.startsWith(prefix)) {
    const other = /^bomfather-(challenge|response)-(v[0-9]+):/.exec(t);
    if (other && `bomfather-${other[1]}-v1:` === prefix)
      return { ok: false, refusal: { reason: "other-version", message: `${what} is in format ${q(other[2]!)}; this bomfather reads v1`, hint: "use the same version of bomfather on both sides" } };
    if (other) return malformed(`Expected a ${what.toLowerCase()}, got a ${other[1]}`, other[1] === "challenge" ? 'sign it first: bomfather sign --key KEY' : "give the challenge text the agent printed");
    return malformed(`${what} does not start with ${q(prefix)}`, `copy the whole line, starting with ${q(prefix)}`);
  }
  const body = t.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) return malformed(`${what} is not base64url text`, "copy the whole line, unchanged");
  const fields = decodeFields(Buffer.from(body, "base64url"));
  if (!fields) return malformed(`${what} is truncated or has extra bytes`, "copy the whole line, unchanged");
  return { ok: true, value: fields };
}

export function formatChallenge(c: Challenge): string {
  return CHALLENGE_PREFIX + Buffer.from(encodeMessage(c)).toString("base64url");
}

export function parseChallenge(text: string): Parsed<Challenge> {
  const f = decodeText(text, CHALLENGE_PREFIX, "Challenge");
  if (!f.ok) return f;
  if (f.value.length !== MESSAGE_FIELDS) return malformed(`Challenge has ${f.value.length} fields; expected ${MESSAGE_FIELDS}`);
  return decodeMessage(f.value, "Challenge");
}

export function formatResponse(r: Response): string {
  return RESPONSE_PREFIX + Buffer.from(encodeFields([...messageFields(r.challenge), r.publicKey, r.signature])).toString("base64url");
}

export function parseResponse(text: string): Parsed<Response> {
  const f = decodeText(text, RESPONSE_PREFIX, "Response");
  if (!f.ok) return f;
  if (f.value.length !== RESPONSE_FIELDS) return malformed(`Response has ${f.value.length} fields; expected ${RESPONSE_FIELDS}`);
  const c = decodeMessage(f.value.slice(0, MESSAGE_FIELDS), "Response");
  if (!c.ok) return c;
  const [publicKey, signature] = [f.value[8]!, f.value[9]!];
  if (publicKey.length !== SIZES.publicKey) return malformed(`Response has a public key of ${publicKey.length} bytes; expected ${SIZES.publicKey}`);
  if (signature.length !== SIZES.signature) return malformed(`Response has a signature of ${signature.length} bytes; expected ${SIZES.signature}`);
  return { ok: true, value: { challenge: c.value, publicKey: Uint8Array.from(publicKey), signature: Uint8Array.from(signature) } };
}

/** Sign a challenge: the response text to give back to the agent. */
export function signChallenge(c: Challenge, key: SigningKey): string {
  const signature = key.sign(encodeMessage(c));
  return formatResponse({ challenge: c, publicKey: key.publicKey, signature });
}

/** What a challenge asks, in words, for the person about to sign it. */
export function describeChallenge(c: Challenge): string {
  const what = c.action === "reload" ? `reload with the policy whose SHA-256 is ${hex(c.policySha256!)}` : "shutdown";
  return `${what}\n  on host ${q(c.host)} (boot id ${formatUuid(c.bootId)}), agent run ${hex(c.runId)}, challenge ${challengeId(c)}`;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}

// --- signature checks beyond tweetnacl --------------------------------------------------------

/** The order of Ed25519's prime subgroup, L = 2^252 + 27742317777372353535851937790883648493. */
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function littleEndian(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

/**
 * RFC 8032 (5.1.7) requires S < L. tweetnacl does not check it, so S + L verifies there too: the
 * same signature written a second way. Refusing it keeps one signature one byte string.
 */
export function hasCanonicalS(signature: Uint8Array): boolean {
  return signature.length === 64 && littleEndian(signature.subarray(32)) < L;
}

/**
 * Encodings of the points of order 1, 2, 4 and 8 (ignoring the sign bit of x), and the
 * non-canonical encodings y = p and y = p + 1: libsodium's blocklist. A public key or an R among
 * them lets one signature verify for many messages or keys.
 */
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000", // y = 0, order 4
  "0100000000000000000000000000000000000000000000000000000000000000", // y = 1, order 1
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p - 1, order 2
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p, non-canonical 0
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1, non-canonical 1
].map((h) => Buffer.from(h, "hex"));

export function hasSmallOrder(point: Uint8Array): boolean {
  if (point.length !== 32) return false;
  const p = Buffer.from(point);
  p[31]! &= 0x7f;
  return SMALL_ORDER.some((s) => s.equals(p));
}

/** Verify an Ed25519 signature strictly: canonical S, no small-order R or key, then tweetnacl. */
export function verifyStrict(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): "ok" | "non-canonical" | "small-order" | "bad" {
  if (!hasCanonicalS(signature)) return "non-canonical";
  if (hasSmallOrder(signature.subarray(0, 32)) || hasSmallOrder(publicKey)) return "small-order";
  return nacl.sign.detached.verify(message, signature, publicKey) ? "ok" : "bad";
}

/** RFC 8032 section 7.1, TEST 1: the empty message. */
export const KNOWN_ANSWER = {
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

/**
 * The verifier checked at the agent's start against RFC 8032's first vector, both ways (the
 * signature verifies; with one bit changed it does not): throws if not. It also compiles
 * tweetnacl's arithmetic before a request waits on it (measured in the bench's VM: the first
 * verification of a signed reload took 0.17-0.21 s of counted time, interpreted).
 */
export function verifierSelfTest(): void {
  const key = Buffer.from(KNOWN_ANSWER.publicKey, "hex");
  const signature = Buffer.from(KNOWN_ANSWER.signature, "hex");
  const altered = Buffer.from(signature);
  altered[7]! ^= 0x10;
  const good = verifyStrict(new Uint8Array(0), signature, key);
  const bad = verifyStrict(new Uint8Array(0), altered, key);
  if (good !== "ok" || bad !== "bad") throw new Error(`Bug: the Ed25519 verifier fails RFC 8032's first test vector (${good}, ${bad})`);
}

// --- the verifier the agent holds -------------------------------------------------------------

/** The keys of a checked policy (`agent.keys`), decoded. */
export function policyKeys(policy: Policy): PolicyKey[] {
  return (policy.agent?.keys ?? []).map((k) => {
    const r = parsePublicKey(k.key);
    if (!r.ok) throw new Error(`Key ${q(k.name)} passed the policy checks but does not parse: ${r.message}`);
    return { name: k.name, publicKey: r.value, allow: [...new Set(k.allow)] };
  });
}

export type Verdict =
  | { ok: true; action: Action; key: KeyInfo; challenge: Challenge }
  | { ok: false; refusal: Refusal; /** The signer, when the response named one. */ key?: { name?: string; fingerprint: string } };

/** What the requester sends with a response: the action it asks for and, for reload, the policy. */
export interface Submission {
  action: Action;
  policy?: Uint8Array;
}

export interface ChallengesOptions {
  identity: AgentIdentity;
  keys: readonly PolicyKey[];
  /** The monotonic clock in ns (process.hrtime.bigint by default); tests inject one. */
  now?: () => bigint;
  ttlNs?: bigint;
  cap?: number;
  random?: (n: number) => Uint8Array;
}

type Gone = "answered" | "expired" | "pushed out";

/**
 * The challenges this run of the agent has issued and not yet seen answered. Memory is bounded:
 * at most `cap` outstanding challenges and REMEMBERED nonces already gone.
 */
export class Challenges {
  private readonly outstanding = new Map<string, Challenge>(); // by nonce hex, oldest first
  private readonly gone = new Map<string, Gone>(); // by nonce hex, oldest first
  private keys: readonly PolicyKey[];
  private readonly now: () => bigint;
  private readonly ttl: bigint;
  private readonly cap: number;
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly opts: ChallengesOptions) {
    this.keys = opts.keys;
    this.now = opts.now ?? (() => process.hrtime.bigint());
    this.ttl = opts.ttlNs ?? CHALLENGE_TTL_NS;
    this.cap = opts.cap ?? MAX_OUTSTANDING;
    this.random = opts.random ?? ((n) => randomBytes(n));
  }

  /** The keys of a newly applied policy; outstanding challenges stay valid and are judged by them. */
  setKeys(keys: readonly PolicyKey[]): void {
    this.keys = keys;
  }

  get size(): number {
    return this.outstanding.size;
  }

  /**
   * Issue a challenge. When `cap` challenges are outstanding, the oldest is pushed out: a flood of
   * requests then costs nothing but the flooder's own challenges, and never locks out a fresh
   * request (refusing new ones instead would let a flood deny every shutdown for the whole TTL).
   */
  issue(action: Action, policySha256: Uint8Array | null): { ok: true; challenge: Challenge; text: string } | { ok: false; refusal: Refusal } {
    if ((action === "reload") !== (policySha256 !== null) || (policySha256 !== null && policySha256.length !== SIZES.policySha256))
      throw new TypeError("A reload challenge needs the policy's 32-byte SHA-256, a shutdown challenge none");
    if (!this.keys.some((k) => k.allow.includes(action)))
      return {
        ok: false,
        refusal: {
          reason: "no-key",
          message: `No key in the running policy may ${action} the agent`,
          hint: this.keys.length ? `list "${action}" in the allow list of a key under agent.keys` : "the running policy has no agent.keys: nothing but a reboot stops or changes this agent",
        },
      };
    this.sweep();
    while (this.outstanding.size >= this.cap) this.forget(this.outstanding.keys().next().value!, "pushed out");
    const { host, bootId, runId } = this.opts.identity;
    const challenge: Challenge = { action, policySha256, host, bootId, runId, nonce: this.random(SIZES.nonce), expires: this.now() + this.ttl };
    this.outstanding.set(hex(challenge.nonce), challenge);
    return { ok: true, challenge, text: formatChallenge(challenge) };
  }

  /**
   * Judge a response. A response naming an outstanding challenge consumes it, whether or not it is
   * then accepted: each challenge is answered at most once.
   */
  verify(text: string, submitted: Submission): Verdict {
    const parsed = parseResponse(text);
    if (!parsed.ok) return parsed;
    const r = parsed.value;
    const c = r.challenge;
    const signer = this.signer(r.publicKey);
    const refuse = (reason: Reason, message: string, hint?: string): Verdict => ({ ok: false, refusal: hint === undefined ? { reason, message } : { reason, message, hint }, key: signer });
    const me = this.opts.identity;

    if (!same(c.bootId, me.bootId))
      return refuse("other-host", `Response is for another host or boot: boot id ${formatUuid(c.bootId)} (host ${q(c.host)}); this is ${formatUuid(me.bootId)} (host ${q(me.host)})`, `a response works only on the host, and in the boot, whose agent issued the challenge; ${NEW_CHALLENGE}`);
    if (!same(c.runId, me.runId))
      return refuse("other-run", `Response is for another run of the agent (run ${hex(c.runId)}; this run is ${hex(me.runId)})`, `the agent restarted since the challenge was issued; ${NEW_CHALLENGE}`);

    const id = hex(c.nonce);
    const issued = this.outstanding.get(id);
    if (!issued) {
      const gone = this.gone.get(id);
      if (gone === "answered") return refuse("replayed", `Challenge ${challengeId(c)} was already answered`, `each challenge takes one response; ${NEW_CHALLENGE}`);
      if (gone === "expired") return refuse("expired", `Challenge ${challengeId(c)} expired`, `answer a challenge within ${this.ttl / 1_000_000_000n} s; ${NEW_CHALLENGE}`);
      return refuse(
        "unknown-challenge",
        `Challenge ${challengeId(c)} is not outstanding: this run of the agent never issued it, or it was pushed out by newer challenges`,
        `at most ${this.cap} challenges are outstanding at once; ${NEW_CHALLENGE}`,
      );
    }
    this.forget(id, "answered");

    if (issued.action !== c.action || submitted.action !== c.action) {
      const signed = issued.action !== c.action ? c.action : issued.action;
      const asked = issued.action !== c.action ? issued.action : submitted.action;
      return refuse("other-action", `Response signs a ${q(signed)}, but this is a ${q(asked)}`, `sign a challenge for the action you request; ${NEW_CHALLENGE}`);
    }
    if (c.action === "reload") {
      if (!same(issued.policySha256, c.policySha256))
        return refuse("policy-mismatch", `Response signs policy SHA-256 ${hex(c.policySha256!)}, but the challenge was issued for ${hex(issued.policySha256!)}`, NEW_CHALLENGE);
      const sent = submitted.policy ? sha256(submitted.policy) : null;
      if (!same(sent, issued.policySha256))
        return refuse(
          "policy-mismatch",
          sent ? `The policy sent has SHA-256 ${hex(sent)}, but the response signs ${hex(issued.policySha256!)}` : "A reload needs the policy the response signs",
          "send the exact bytes of the policy file the challenge was issued for; any edit needs a new challenge",
        );
    } else if (submitted.policy) return refuse("other-action", "A shutdown takes no policy", "send a shutdown response alone, or ask for a reload challenge");
    if (issued.host !== c.host || issued.expires !== c.expires)
      return refuse("malformed", `Response does not match challenge ${challengeId(c)}: its ${issued.host !== c.host ? "host" : "expiry"} was changed`, NEW_CHALLENGE);

    const now = this.now();
    if (now > issued.expires)
      return refuse("expired", `Challenge ${challengeId(c)} expired ${(now - issued.expires) / 1_000_000_000n} s before this response`, `answer a challenge within ${this.ttl / 1_000_000_000n} s; ${NEW_CHALLENGE}`);

    const key = this.keys.find((k) => same(k.publicKey, r.publicKey));
    if (!key)
      return refuse("unknown-key", `Key ${signer.fingerprint} is not listed under agent.keys in the running policy`, "sign with a key listed there (see bomfather keygen), or reload a policy that lists this one");
    if (!key.allow.includes(c.action))
      return refuse("key-not-allowed", `Key ${q(key.name)} may not ${c.action} the agent: its allow list is [${key.allow.join(", ")}]`, `sign with a key allowed to ${c.action}, or add "${c.action}" to its allow list with a signed reload`);

    switch (verifyStrict(encodeMessage(issued), r.signature, r.publicKey)) {
      case "non-canonical":
        return refuse("non-canonical-signature", `Signature by key ${q(key.name)} is not canonical (its S is not reduced modulo the group order)`, "sign with bomfather sign or another RFC 8032 signer; a rewritten signature is refused");
      case "small-order":
        return refuse("non-canonical-signature", `Signature by key ${q(key.name)} uses a small-order point`, "sign with bomfather sign or another RFC 8032 signer; a crafted signature is refused");
      case "bad":
        return refuse("bad-signature", `Signature by key ${q(key.name)} does not verify for challenge ${challengeId(c)}`, `the response was altered, or signed for other fields; ${NEW_CHALLENGE}`);
    }
    return { ok: true, action: c.action, key: { name: key.name, fingerprint: signer.fingerprint }, challenge: issued };
  }

  private signer(publicKey: Uint8Array): { name?: string; fingerprint: string } {
    const key = this.keys.find((k) => same(k.publicKey, publicKey));
    return key ? { name: key.name, fingerprint: fingerprint(publicKey) } : { fingerprint: fingerprint(publicKey) };
  }

  /** Drop expired challenges (issue order is expiry order: the TTL is fixed). */
  private sweep(): void {
    const now = this.now();
    for (const [id, c] of this.outstanding) {
      if (c.expires >= now) break;
      this.forget(id, "expired");
    }
  }

  private forget(id: string, why: Gone): void {
    this.outstanding.delete(id);
    this.gone.delete(id);
    this.gone.set(id, why);
    if (this.gone.size > REMEMBERED) this.gone.delete(this.gone.keys().next().value!);
  }
}

// --- requests over the local socket -----------------------------------------------------------
//
// One request per connection: the client writes one JSON object and a newline, the agent answers
// with one JSON object and a newline, then closes.
//
//   {"op":"challenge","action":"shutdown"}
//   {"op":"challenge","action":"reload","policySha256":"<64 hex>"}
//       -> {"ok":true,"challenge":"bomfather-challenge-v1:..."}
//   {"op":"submit","action":"shutdown","response":"bomfather-response-v1:..."}
//   {"op":"submit","action":"reload","response":"...","policy":"<base64 of the policy file>",
//    "policyName":"new.yaml"}   (the file's name as the requester gave it: for diagnostics only)
//       -> {"ok":true,"message":"..."}
//   any  -> {"ok":false,"reason":"...","message":"...","hint"?:"...","diagnostics"?:"..."}

/** The largest reload: the policy language's own limit. */
export const MAX_RELOAD_POLICY_BYTES = MAX_POLICY_BYTES;
/** The largest request line: a reload of the largest policy, in base64, and room for the rest. */
export const MAX_REQUEST_BYTES = Math.ceil(MAX_RELOAD_POLICY_BYTES / 3) * 4 + 64 * 1024;

/** Refusals of the socket layer, before or around a signed request. */
export const REQUEST_REASONS = ["bad-request", "too-large", "timeout", "internal-error"] as const;

export type Request =
  | { op: "challenge"; action: Action; policySha256?: string }
  | { op: "submit"; action: Action; response: string; policy?: string; policyName?: string };

export type Reply =
  | { ok: true; challenge?: string; message?: string }
  | { ok: false; reason: string; message: string; hint?: string; diagnostics?: string };

/** A request with its fields decoded. */
export type ParsedRequest =
  | { op: "challenge"; action: Action; policySha256: Uint8Array | null }
  | { op: "submit"; action: Action; response: string; policy?: Uint8Array; policyName?: string };

const FIELDS: Record<string, readonly string[]> = {
  challenge: ["op", "action", "policySha256"],
  submit: ["op", "action", "response", "policy", "policyName"],
};

export function parseRequest(line: string): { ok: true; value: ParsedRequest } | { ok: false; reply: Reply } {
  const bad = (message: string, reason = "bad-request") => ({ ok: false as const, reply: { ok: false as const, reason, message, hint: "use the bomfather command of the same version as the agent" } });
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return bad("Request is not JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return bad("Request is not a JSON object");
  const o = v as Record<string, unknown>;
  const fields = typeof o.op === "string" ? FIELDS[o.op] : undefined;
  if (!fields) return bad(`Unknown request ${q(String(o.op))}`);
  const unknown = Object.keys(o).find((k) => !fields.includes(k));
  if (unknown !== undefined) return bad(`Unknown field ${q(unknown)} in a ${q(String(o.op))} request`);
  if (!(ACTIONS as readonly unknown[]).includes(o.action)) return bad(`Unknown action ${q(String(o.action))}`);
  const action = o.action as Action;
  if (o.op === "challenge") {
    if (action === "shutdown") return o.policySha256 === undefined ? { ok: true, value: { op: "challenge", action, policySha256: null } } : bad("A shutdown challenge takes no policySha256");
    if (typeof o.policySha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.policySha256)) return bad("A reload challenge needs policySha256: 64 lower-case hex digits");
    return { ok: true, value: { op: "challenge", action, policySha256: Buffer.from(o.policySha256, "hex") } };
  }
  if (typeof o.response !== "string") return bad("A submit request needs a response");
  if (o.policyName !== undefined && (typeof o.policyName !== "string" || o.policyName.length === 0 || o.policyName.length > 1024 || /[\x00-\x1f\x7f]/.test(o.policyName)))
    return bad("policyName must be a file name of printable characters");
  if (o.policy === undefined) return o.policyName === undefined ? { ok: true, value: { op: "submit", action, response: o.response } } : bad("policyName comes with a policy");
  if (typeof o.policy !== "string") return bad("policy must be base64");
  // Canonical base64 only, checked natively (a policy of megabytes): what decodes and encodes back to the same text.
  const policy = Buffer.from(o.policy, "base64");
  if (policy.toString("base64") !== o.policy) return bad("policy must be base64");
  if (policy.length > MAX_RELOAD_POLICY_BYTES) return bad(`Policy is too large (${policy.length} bytes; the limit is ${MAX_RELOAD_POLICY_BYTES})`, "too-large");
  return { ok: true, value: { op: "submit", action, response: o.response, policy, ...(o.policyName === undefined ? {} : { policyName: o.policyName }) } };
}
