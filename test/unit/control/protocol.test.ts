// The signed-request format (fixed vectors) and every refusal of the agent's verifier.
import { describe, expect, test } from "bun:test";
import { createHash, createPrivateKey, sign } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nacl from "tweetnacl";
import { fingerprint, type SigningKey } from "../../../src/control/keys.ts";
import {
  parseRequest,
  agentIdentity,
  Challenges,
  formatUuid,
  encodeMessage,
  formatChallenge,
  formatResponse,
  hasCanonicalS,
  hasSmallOrder,
  MAX_OUTSTANDING,
  parseChallenge,
  parseResponse,
  parseUuid,
  policyKeys,
  sha256,
  signChallenge,
  KNOWN_ANSWER,
  verifierSelfTest,
  type Action,
  type AgentIdentity,
  type Challenge,
  type PolicyKey,
  type Reason,
  type Verdict,
} from "../../../src/control/protocol.ts";
import { checkPolicy } from "../../../src/policy/index.ts";

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const bigLe = (b: Uint8Array) => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
const le32 = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
/** The same signature with S + L in place of S: not canonical, yet tweetnacl accepts it. */
function addL(sig: Uint8Array): Uint8Array {
  const out = Uint8Array.from(sig);
  out.set(le32(bigLe(sig.subarray(32)) + L), 32);
  return out;
}
/** The Ed25519 secret scalar a of a seed (RFC 8032 5.1.5), reduced modulo L. */
function secretScalar(seed: Uint8Array): bigint {
  const h = createHash("sha512").update(seed).digest().subarray(0, 32);
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  return bigLe(h) % L;
}

// RFC 8032 section 7.1, test 1: a published key, so the vectors can be checked by anyone.
const SEED = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
const RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const rfcPair = nacl.sign.keyPair.fromSeed(SEED);
const keyOf = (seed: Uint8Array): SigningKey => {
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: pair.publicKey, sign: (m) => nacl.sign.detached(m, pair.secretKey), format: "test" };
};
const rfcKey = keyOf(SEED);

const range = (start: number, n: number) => Uint8Array.from({ length: n }, (_, i) => start + i);
const POLICY = Buffer.from("version: 1\n");
const fixed = (action: Action): Challenge => ({
  action,
  policySha256: action === "reload" ? sha256(POLICY) : null,
  host: "web-3",
  bootId: parseUuid("fcbbf88c-6bbc-4ce5-b9f0-89c374daae5a")!,
  runId: range(0x10, 16),
  nonce: range(0x20, 32),
  expires: 123456789000000000n,
});

// The signed message, field by field: a 4-byte big-endian length, then the bytes.
const HEAD = [
  "00000014", "626f6d6661746865722d636f6e74726f6c2d7631", // "bomfather-control-v1"
];
const TAIL = [
  "00000005", "7765622d33", // host "web-3"
  "00000010", "fcbbf88c6bbc4ce5b9f089c374daae5a", // boot id
  "00000010", "101112131415161718191a1b1c1d1e1f", // run id
  "00000020", "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", // nonce
  "00000008", "01b69b4ba5749200", // expires: 123456789000000000 ns
];
const VECTORS = {
  shutdown: {
    message: [...HEAD, "00000008", "73687574646f776e" /* "shutdown" */, "00000000" /* no policy */, ...TAIL].join(""),
    signature: "lnCecE0EGwIwJybn5aKvr8n7HYFQ2Nr2NppjzXEy2sT0nR9l/+OrGPflJnQBffJx+gPEeCFi+xRiLWRdqZ2dBg==",
    challenge:
      "bomfather-challenge-v1:AAAAFGJvbWZhdGhlci1jb250cm9sLXYxAAAACHNodXRkb3duAAAAAAAAAAV3ZWItMwAAABD8u_iMa7xM5bnwicN02q5aAAAAEBAREhMUFRYXGBkaGxwdHh8AAAAgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAIAbabS6V0kgA",
    response:
      "bomfather-response-v1:AAAAFGJvbWZhdGhlci1jb250cm9sLXYxAAAACHNodXRkb3duAAAAAAAAAAV3ZWItMwAAABD8u_iMa7xM5bnwicN02q5aAAAAEBAREhMUFRYXGBkaGxwdHh8AAAAgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAIAbabS6V0kgAAAAAg11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoAAABAlnCecE0EGwIwJybn5aKvr8n7HYFQ2Nr2NppjzXEy2sT0nR9l_-OrGPflJnQBffJx-gPEeCFi-xRiLWRdqZ2dBg",
  },
  reload: {
    message: [
      ...HEAD,
      "00000006", "72656c6f6164", // "reload"
      "00000020", "09bfcc6a14b83e2192b8673677725c84883ee9cd0c70e45c9ec09daa8f2b2847", // SHA-256 of "version: 1\n"
      ...TAIL,
    ].join(""),
    signature: "o2RVMumuhdbrztaM+07XuhBTR6IN7hDLRaYmaxkOzQcV8TnKyTYv4pO9jRg/c6Qa0FKdeLZStakDaDZzMCWIDA==",
    challenge:
      "bomfather-challenge-v1:AAAAFGJvbWZhdGhlci1jb250cm9sLXYxAAAABnJlbG9hZAAAACAJv8xqFLg-IZK4ZzZ3clyEiD7pzQxw5FyewJ2qjysoRwAAAAV3ZWItMwAAABD8u_iMa7xM5bnwicN02q5aAAAAEBAREhMUFRYXGBkaGxwdHh8AAAAgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAIAbabS6V0kgA",
    response:
      "bomfather-response-v1:AAAAFGJvbWZhdGhlci1jb250cm9sLXYxAAAABnJlbG9hZAAAACAJv8xqFLg-IZK4ZzZ3clyEiD7pzQxw5FyewJ2qjysoRwAAAAV3ZWItMwAAABD8u_iMa7xM5bnwicN02q5aAAAAEBAREhMUFRYXGBkaGxwdHh8AAAAgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAIAbabS6V0kgAAAAAg11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoAAABAo2RVMumuhdbrztaM-07XuhBTR6IN7hDLRaYmaxkOzQcV8TnKyTYv4pO9jRg_c6Qa0FKdeLZStakDaDZzMCWIDA",
  },
};

describe("fixed vectors", () => {
  test("the RFC 8032 key", () => {
    expect(Buffer.from(rfcKey.publicKey).toString("hex")).toBe(RFC_PUBLIC);
  });

  test("the agent's self-test of its verifier holds RFC 8032's first vector, and passes", () => {
    // Made here from the RFC's seed by node:crypto: the vector the agent checks is the RFC's.
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), SEED]);
    expect(sign(null, Buffer.alloc(0), createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).toString("hex")).toBe(KNOWN_ANSWER.signature);
    expect(KNOWN_ANSWER.publicKey).toBe(RFC_PUBLIC);
    expect(() => verifierSelfTest()).not.toThrow();
  });

  test.each(["shutdown", "reload"] as const)("%s: message bytes, signature, challenge and response text", (action) => {
    const v = VECTORS[action];
    const c = fixed(action);
    const message = encodeMessage(c);
    expect(Buffer.from(message).toString("hex")).toBe(v.message);
    const signature = nacl.sign.detached(message, rfcPair.secretKey);
    expect(Buffer.from(signature).toString("base64")).toBe(v.signature);
    // Another implementation (node:crypto over BoringSSL) signs the same bytes the same way.
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), SEED]);
    const other = sign(null, message, createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }));
    expect(other.toString("base64")).toBe(v.signature);
    expect(formatChallenge(c)).toBe(v.challenge);
    expect(signChallenge(c, rfcKey)).toBe(v.response);
  });

  test("parsing gives back the same fields, whatever whitespace the copy added", () => {
    for (const action of ["shutdown", "reload"] as const) {
      const v = VECTORS[action];
      const broken = v.challenge.replace(/(.{40})/g, "$1\n  ") + "\n";
      expect(parseChallenge(broken)).toEqual({ ok: true, value: fixed(action) });
      const r = parseResponse(v.response);
      expect(r.ok && r.value.challenge).toEqual(fixed(action));
      expect(r.ok && Buffer.from(r.value.publicKey).toString("hex")).toBe(RFC_PUBLIC);
    }
  });
});

test("the agent's identity: this boot's id, a fresh run id at each start", () => {
  const a = agentIdentity();
  const b = agentIdentity();
  expect(formatUuid(a.bootId)).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
  expect(a.runId).toHaveLength(16);
  expect(a.runId).not.toEqual(b.runId);
  expect(a.host.length).toBeGreaterThan(0);
  expect(parseUuid("not-a-uuid")).toBeUndefined();
  const dir = mkdtempSync(join(tmpdir(), "bf-boot-"));
  writeFileSync(join(dir, "boot_id"), "garbage\n");
  expect(() => agentIdentity(join(dir, "boot_id"))).toThrow("does not hold a UUID");
});

describe("malformed text", () => {
  const bytes = (text: string) => Buffer.from(text.slice(text.indexOf(":") + 1), "base64url");
  const text = (prefix: string, b: Uint8Array) => `${prefix}${Buffer.from(b).toString("base64url")}`;
  const reason = (r: ReturnType<typeof parseResponse>) => (r.ok ? "ok" : `${r.refusal.reason}: ${r.refusal.message}`);

  test.each([
    ["", /^malformed: Response does not start with "bomfather-response-v1:"/],
    ["hello", /^malformed: Response does not start/],
    [VECTORS.shutdown.challenge, /^malformed: Expected a response, got a challenge/],
    [VECTORS.shutdown.response.replace("-v1:", "-v2:"), /^other-version: Response is in format "v2"/],
    [VECTORS.shutdown.response + "!", /^malformed: Response is not base64url text/],
    [VECTORS.shutdown.response.slice(0, -10), /^malformed: Response is truncated or has extra bytes/],
    [text("bomfather-response-v1:", bytes(VECTORS.shutdown.challenge)), /^malformed: Response has 8 fields; expected 10/],
    [text("bomfather-response-v1:", Buffer.concat([bytes(VECTORS.shutdown.response), Buffer.from("00000000", "hex")])), /^malformed: Response is truncated or has extra bytes/],
  ])("%#", (input, expected) => {
    expect(reason(parseResponse(input))).toMatch(expected);
  });

  test("fields that are the wrong size or value", () => {
    const field = (f: Uint8Array) => {
      const b = Buffer.alloc(4 + f.length);
      b.writeUInt32BE(f.length);
      b.set(f, 4);
      return b;
    };
    const withField = (i: number, value: Uint8Array) => {
      const b = Buffer.from(encodeMessage(fixed("shutdown")));
      const fields: Uint8Array[] = [];
      for (let at = 0; at < b.length; at += 4 + b.readUInt32BE(at)) fields.push(b.subarray(at + 4, at + 4 + b.readUInt32BE(at)));
      fields[i] = value;
      fields.push(rfcKey.publicKey, new Uint8Array(64));
      return reason(parseResponse(text("bomfather-response-v1:", Buffer.concat(fields.map(field)))));
    };
    expect(withField(0, Buffer.from("bomfather-control-v2"))).toMatch(/^other-version: Response is in format "bomfather-control-v2"/);
    expect(withField(0, Buffer.from("something-else"))).toMatch(/^malformed: Response does not start with "bomfather-control-v1"/);
    expect(withField(1, Buffer.from("reboot"))).toMatch(/^malformed: Response names an unknown action "reboot"/);
    expect(withField(2, new Uint8Array(32))).toMatch(/^malformed: Response is a shutdown with a policy SHA-256/);
    expect(withField(3, Buffer.from(""))).toMatch(/host name of 0 bytes/);
    expect(withField(3, Buffer.from("a\nb"))).toMatch(/host name that is not printable/);
    expect(withField(4, new Uint8Array(15))).toMatch(/^malformed: Response has a bootId of 15 bytes; expected 16/);
    expect(withField(6, new Uint8Array(31))).toMatch(/nonce of 31 bytes/);
    expect(withField(7, new Uint8Array(4))).toMatch(/expires of 4 bytes/);
  });
});

describe("signature checks tweetnacl alone does not make", () => {
  test("S + L verifies in tweetnacl, and is not canonical", () => {
    const m = encodeMessage(fixed("shutdown"));
    const sig = nacl.sign.detached(m, rfcPair.secretKey);
    const twin = addL(sig);
    expect(nacl.sign.detached.verify(m, twin, rfcKey.publicKey)).toBe(true); // why the check exists
    expect(hasCanonicalS(sig)).toBe(true);
    expect(hasCanonicalS(twin)).toBe(false);
  });

  test("the small-order blocklist holds points of small order", () => {
    // Map each Edwards y to Montgomery u = (1 + y) / (1 - y) mod p; X25519 (which clears the
    // cofactor) sends every point of order 1, 2, 4 or 8 to zero, and a real key to non-zero.
    const p = (1n << 255n) - 19n;
    const pow = (b: bigint, e: bigint): bigint => (e === 0n ? 1n : e & 1n ? (b * pow(b, e - 1n)) % p : pow((b * b) % p, e / 2n));
    const le = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
    const y = (hex: string) => {
      const b = Buffer.from(hex, "hex");
      b[31]! &= 0x7f;
      let n = 0n;
      for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
      return n % p;
    };
    const toU = (yy: bigint) => ((1n + yy) * pow((1n - yy + p) % p, p - 2n)) % p;
    const scalar = nacl.randomBytes(32);
    for (const hex of [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // same y, other x
    ]) {
      expect(hasSmallOrder(Buffer.from(hex, "hex"))).toBe(true);
      expect(nacl.scalarMult(scalar, le(toU(y(hex))))).toEqual(new Uint8Array(32));
    }
    expect(hasSmallOrder(rfcKey.publicKey)).toBe(false);
    expect(nacl.scalarMult(scalar, le(toU(y(RFC_PUBLIC))))).not.toEqual(new Uint8Array(32));
  });
});

// --- the verifier ------------------------------------------------------------------------------

const HERE: AgentIdentity = { host: "web-3", bootId: range(0xb0, 16), runId: range(0xc0, 16) };
const ops = keyOf(range(1, 32));
const releaseBot = keyOf(range(2, 32));
const stranger = keyOf(range(3, 32));
const KEYS: PolicyKey[] = [
  { name: "ops", publicKey: ops.publicKey, allow: ["shutdown", "reload"] },
  { name: "release-bot", publicKey: releaseBot.publicKey, allow: ["reload"] },
];

function agent(identity = HERE, keys: PolicyKey[] = KEYS) {
  let now = 1_000_000_000_000n;
  const challenges = new Challenges({ identity, keys, now: () => now });
  return {
    challenges,
    advance: (seconds: number) => (now += BigInt(seconds) * 1_000_000_000n),
    /** Issue a challenge and return its text. */
    ask(action: Action, policy: Uint8Array | null = action === "reload" ? POLICY : null): string {
      const r = challenges.issue(action, policy ? sha256(policy) : null);
      if (!r.ok) throw new Error(r.refusal.message);
      return r.text;
    },
  };
}

/** Sign a challenge text, after an optional change of its fields (as a forger would). */
function signed(text: string, key: SigningKey = ops, change: (c: Challenge) => void = () => {}): string {
  const c = parseChallenge(text);
  if (!c.ok) throw new Error(c.refusal.message);
  change(c.value);
  return signChallenge(c.value, key);
}

const why = (v: Verdict): Reason | "ok" => (v.ok ? "ok" : v.refusal.reason);
const shutdown = { action: "shutdown" } as const;
const reload = (policy: Uint8Array = POLICY) => ({ action: "reload", policy }) as const;

describe("Challenges accepts", () => {
  test("a shutdown and a reload signed by allowed keys, naming the key", () => {
    const a = agent();
    const v = a.challenges.verify(signed(a.ask("shutdown")), shutdown);
    expect(v).toMatchObject({ ok: true, action: "shutdown", key: { name: "ops", fingerprint: fingerprint(ops.publicKey) } });
    const r = a.challenges.verify(signed(a.ask("reload"), releaseBot), reload());
    expect(r).toMatchObject({ ok: true, action: "reload", key: { name: "release-bot" } });
    expect(a.challenges.size).toBe(0);
  });

  test("keys from a checked policy", () => {
    const { policy } = checkPolicy(
      `version: 1\nagent:\n  keys:\n    - name: ops\n      key: ${Buffer.from(ops.publicKey).toString("base64")}\n      allow: [shutdown, shutdown]\n`,
      "p.yaml",
    );
    expect(policyKeys(policy!)).toEqual([{ name: "ops", publicKey: ops.publicKey, allow: ["shutdown"] }]);
  });
});

describe("Challenges refuses", () => {
  test("a replay, also after a failed attempt used the challenge", () => {
    const a = agent();
    const response = signed(a.ask("shutdown"));
    expect(why(a.challenges.verify(response, shutdown))).toBe("ok");
    const again = a.challenges.verify(response, shutdown);
    expect(again).toMatchObject({ ok: false, refusal: { reason: "replayed", message: expect.stringMatching(/^Challenge [0-9a-f]{12} was already answered$/) } });

    const text = a.ask("shutdown");
    expect(why(a.challenges.verify(signed(text, stranger), shutdown))).toBe("unknown-key");
    expect(why(a.challenges.verify(signed(text), shutdown))).toBe("replayed");
  });

  test("an expired challenge, answered late or swept while waiting", () => {
    const a = agent();
    const late = signed(a.ask("shutdown"));
    a.advance(299);
    const inTime = signed(a.ask("shutdown"));
    a.advance(2);
    const v = a.challenges.verify(late, shutdown);
    expect(v).toMatchObject({ ok: false, refusal: { reason: "expired", message: expect.stringMatching(/expired 1 s before this response/) } });
    a.advance(300);
    a.ask("shutdown"); // sweeps the expired one
    expect(why(a.challenges.verify(inTime, shutdown))).toBe("expired");
  });

  test("a response for another host (or boot) and for another run", () => {
    const elsewhere = agent({ ...HERE, host: "db-1", bootId: range(0xd0, 16) });
    const restarted = agent({ ...HERE, runId: range(0xe0, 16) });
    const a = agent();
    const v = a.challenges.verify(signed(elsewhere.ask("shutdown")), shutdown);
    expect(v).toMatchObject({ ok: false, refusal: { reason: "other-host", message: expect.stringContaining('(host "db-1")') } });
    expect(why(a.challenges.verify(signed(restarted.ask("shutdown")), shutdown))).toBe("other-run");
  });

  test("a response used for another action, or signed for another action", () => {
    const a = agent();
    expect(why(a.challenges.verify(signed(a.ask("shutdown")), reload()))).toBe("other-action");
    expect(why(a.challenges.verify(signed(a.ask("reload")), shutdown))).toBe("other-action");
    // A reload challenge whose action a go-between turned into a shutdown before it was signed.
    const v = a.challenges.verify(
      signed(a.ask("reload"), ops, (c) => {
        c.action = "shutdown";
        c.policySha256 = null;
      }),
      shutdown,
    );
    expect(v).toMatchObject({ ok: false, refusal: { reason: "other-action", message: 'Response signs a "shutdown", but this is a "reload"' } });
    expect(why(a.challenges.verify(signed(a.ask("shutdown")), { action: "shutdown", policy: POLICY }))).toBe("other-action");
  });

  test("a reload whose policy is not the one signed for", () => {
    const a = agent();
    const v = a.challenges.verify(signed(a.ask("reload")), reload(Buffer.from("version: 1\n# edited\n")));
    expect(v).toMatchObject({ ok: false, refusal: { reason: "policy-mismatch", hint: expect.stringContaining("exact bytes") } });
    expect(why(a.challenges.verify(signed(a.ask("reload")), { action: "reload" }))).toBe("policy-mismatch");
    const swapped = signed(a.ask("reload"), ops, (c) => (c.policySha256 = sha256(Buffer.from("other"))));
    expect(why(a.challenges.verify(swapped, reload(Buffer.from("other"))))).toBe("policy-mismatch");
  });

  test("a key not in the policy, and a key not allowed the action", () => {
    const a = agent();
    const v = a.challenges.verify(signed(a.ask("shutdown"), stranger), shutdown);
    expect(v).toMatchObject({ ok: false, refusal: { reason: "unknown-key", message: `Key ${fingerprint(stranger.publicKey)} is not listed under agent.keys in the running policy` }, key: { fingerprint: fingerprint(stranger.publicKey) } });
    const n = a.challenges.verify(signed(a.ask("shutdown"), releaseBot), shutdown);
    expect(n).toMatchObject({ ok: false, refusal: { reason: "key-not-allowed", message: 'Key "release-bot" may not shutdown the agent: its allow list is [reload]' }, key: { name: "release-bot" } });
  });

  test("a key removed by a reload, for a challenge issued before it", () => {
    const a = agent();
    const text = a.ask("shutdown");
    a.challenges.setKeys([KEYS[1]!, { name: "new-ops", publicKey: stranger.publicKey, allow: ["shutdown"] }]);
    expect(why(a.challenges.verify(signed(text), shutdown))).toBe("unknown-key");
  });

  test("a challenge for an action no key may do", () => {
    const none = agent(HERE, []).challenges.issue("shutdown", null);
    expect(none).toMatchObject({ ok: false, refusal: { reason: "no-key", hint: expect.stringContaining("nothing but a reboot") } });
    const reloadOnly = agent(HERE, [KEYS[1]!]).challenges.issue("shutdown", null);
    expect(reloadOnly).toMatchObject({ ok: false, refusal: { reason: "no-key", message: "No key in the running policy may shutdown the agent" } });
  });

  test("malformed text, and fields changed after the challenge was issued", () => {
    const a = agent();
    expect(why(a.challenges.verify("bomfather-response-v1:AAAA", shutdown))).toBe("malformed");
    const text = a.ask("shutdown");
    const moved = signed(text, ops, (c) => (c.expires += 3600n * 1_000_000_000n));
    expect(a.challenges.verify(moved, shutdown)).toMatchObject({ ok: false, refusal: { reason: "malformed", message: expect.stringContaining("its expiry was changed") } });
    expect(why(a.challenges.verify(signed(text), shutdown))).toBe("replayed");
  });

  test("a bad signature, a non-canonical one (S + L) and a small-order one", () => {
    const a = agent();
    const tamper = (response: string, edit: (sig: Uint8Array) => void) => {
      const r = parseResponse(response);
      if (!r.ok) throw new Error(r.refusal.message);
      edit(r.value.signature);
      return formatResponse(r.value);
    };
    const flipped = tamper(signed(a.ask("shutdown")), (sig) => (sig[0]! ^= 1));
    expect(a.challenges.verify(flipped, shutdown)).toMatchObject({ ok: false, refusal: { reason: "bad-signature", message: expect.stringMatching(/^Signature by key "ops" does not verify/) } });

    const plusL = tamper(signed(a.ask("shutdown")), (sig) => sig.set(addL(sig)));
    expect(why(a.challenges.verify(plusL, shutdown))).toBe("non-canonical-signature");

    // The identity point as a policy key: R = identity, S = 0 verifies for every message.
    const identity = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0));
    const weak = agent(HERE, [{ name: "weak", publicKey: identity, allow: ["shutdown"] }]);
    const c = parseChallenge(weak.ask("shutdown"));
    if (!c.ok) throw new Error();
    const forged = new Uint8Array(64);
    forged[0] = 1;
    expect(nacl.sign.detached.verify(encodeMessage(c.value), forged, identity)).toBe(true); // why the check exists
    const v = weak.challenges.verify(formatResponse({ challenge: c.value, publicKey: identity, signature: forged }), shutdown);
    expect(v).toMatchObject({ ok: false, refusal: { reason: "non-canonical-signature", message: 'Signature by key "weak" uses a small-order point' } });

    // The same key with an ordinary R: R = [a]B and S = a verify for every message as well.
    const seed = range(9, 32);
    const ordinary = new Uint8Array(64);
    ordinary.set(nacl.sign.keyPair.fromSeed(seed).publicKey);
    ordinary.set(le32(secretScalar(seed)), 32);
    const c2 = parseChallenge(weak.ask("shutdown"));
    if (!c2.ok) throw new Error();
    expect(nacl.sign.detached.verify(encodeMessage(c2.value), ordinary, identity)).toBe(true);
    expect(hasSmallOrder(ordinary.subarray(0, 32))).toBe(false);
    const w = weak.challenges.verify(formatResponse({ challenge: c2.value, publicKey: identity, signature: ordinary }), shutdown);
    expect(why(w)).toBe("non-canonical-signature");

    // A real key whose holder signs with R = identity: S = H(R || A || M) * a.
    const c3 = parseChallenge(a.ask("shutdown"));
    if (!c3.ok) throw new Error();
    const k = bigLe(createHash("sha512").update(identity).update(ops.publicKey).update(encodeMessage(c3.value)).digest()) % L;
    const odd = new Uint8Array(64);
    odd.set(identity);
    odd.set(le32((k * secretScalar(range(1, 32))) % L), 32);
    expect(nacl.sign.detached.verify(encodeMessage(c3.value), odd, ops.publicKey)).toBe(true);
    expect(why(a.challenges.verify(formatResponse({ challenge: c3.value, publicKey: ops.publicKey, signature: odd }), shutdown))).toBe("non-canonical-signature");
  });

  test("a flood of challenges: memory stays bounded, the oldest is pushed out, a fresh one works", () => {
    const a = agent();
    const first = signed(a.ask("shutdown"));
    for (let i = 0; i < 10_000; i++) a.ask("shutdown");
    expect(a.challenges.size).toBe(MAX_OUTSTANDING);
    expect(a.challenges.verify(first, shutdown)).toMatchObject({ ok: false, refusal: { reason: "unknown-challenge", hint: expect.stringContaining(`at most ${MAX_OUTSTANDING}`) } });
    expect(why(a.challenges.verify(signed(a.ask("shutdown")), shutdown))).toBe("ok");
  });

  test("a response made up without any challenge", () => {
    const a = agent();
    const c = parseChallenge(a.ask("shutdown"));
    if (!c.ok) throw new Error();
    c.value.nonce = range(0x77, 32);
    expect(why(a.challenges.verify(signChallenge(c.value, ops), shutdown))).toBe("unknown-challenge");
  });
});

describe("a submit request's policy", () => {
  const submit = (policy: unknown) => parseRequest(JSON.stringify({ op: "submit", action: "reload", response: "r", policy }));
  test("canonical base64 is decoded; anything else is refused", () => {
    const ok = submit(Buffer.from("version: 1\n").toString("base64"));
    expect(ok.ok && ok.value.op === "submit" && Buffer.from(ok.value.policy!).toString()).toBe("version: 1\n");
    expect(submit("").ok).toBe(true);
    for (const bad of ["@@@@", "QQ=", "QQ", "QR==", "QQ==QQ==", " QQ==", "QQ==\n", 42, null]) {
      const r = submit(bad);
      expect(r.ok ? "accepted" : !r.reply.ok && r.reply.message).toBe("policy must be base64");
    }
  });
});
