// The control socket, in this process, at a temporary path: requests, peers, limits, slow clients.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, statSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nacl from "tweetnacl";
import { listenUnix, closeFd } from "../../../ffi/socket.ts";
import { requestAgent } from "../../../src/control/client.ts";
import { ControlError } from "../../../src/control/error.ts";
import { controlEventLine } from "../../../src/control/event.ts";
import type { SigningKey } from "../../../src/control/keys.ts";
import { Challenges, MAX_RELOAD_POLICY_BYTES, parseChallenge, sha256, signChallenge, type PolicyKey, type Reply } from "../../../src/control/protocol.ts";
import { ControlServer, type ControlEvent, type ControlHandler, type HandlerResult, type ServerLimits } from "../../../src/control/socket.ts";

const keyOf = (b: number): SigningKey => {
  const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(b));
  return { publicKey: pair.publicKey, sign: (m) => nacl.sign.detached(m, pair.secretKey), format: "test" };
};
const ops = keyOf(1);
const stranger = keyOf(2);
const KEYS: PolicyKey[] = [{ name: "ops", publicKey: ops.publicKey, allow: ["shutdown", "reload"] }];

interface Running {
  server: ControlServer;
  path: string;
  events: ControlEvent[];
  calls: string[];
  stop(): void;
}

const running: Running[] = [];
afterEach(() => {
  while (running.length) running.pop()!.stop();
});

function newDir(): string {
  return mkdtempSync(join(tmpdir(), "bf-sock-"));
}

/** A server polled every 5 ms, with a handler that records its calls. */
function start(opts: { limits?: Partial<ServerLimits>; handler?: Partial<ControlHandler>; path?: string; onRequest?: (e: ControlEvent) => void } = {}): Running {
  const path = opts.path ?? join(newDir(), "run", "control.sock");
  const events: ControlEvent[] = [];
  const calls: string[] = [];
  const handler: ControlHandler = {
    shutdown: async (key, peer) => (calls.push(`shutdown by ${key.name} from pid ${peer.pid}`), { ok: true, message: "Stopping" }),
    reload: async (policy, key) => (calls.push(`reload by ${key.name}: ${Buffer.from(policy).toString()}`), { ok: true, message: "Reloaded" }),
    ...opts.handler,
  };
  const challenges = new Challenges({ identity: { host: "test", bootId: new Uint8Array(16).fill(7), runId: new Uint8Array(16).fill(8) }, keys: KEYS });
  const server = ControlServer.listen({ path, challenges, handler, onRequest: opts.onRequest ?? ((e) => events.push(e)), limits: opts.limits ?? {} });
  const timer = setInterval(() => server.poll(), 5);
  const r = { server, path, events, calls, stop: () => (clearInterval(timer), server.close()) };
  running.push(r);
  return r;
}

async function signedShutdown(path: string, key = ops): Promise<Reply> {
  const c = await requestAgent({ op: "challenge", action: "shutdown" }, { path });
  if (!c.ok) return c;
  const parsed = parseChallenge(c.challenge!);
  if (!parsed.ok) throw new Error(parsed.refusal.message);
  return requestAgent({ op: "submit", action: "shutdown", response: signChallenge(parsed.value, key) }, { path });
}

/** A raw client: send bytes (or nothing), read whatever comes back until the server closes. */
function raw(path: string, send: string | Buffer | null): Promise<{ text: string; closedAfterMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = createConnection({ path });
    s.on("connect", () => {
      if (send !== null) s.write(send);
    });
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => {});
    s.on("close", () => resolve({ text: Buffer.concat(chunks).toString(), closedAfterMs: performance.now() - t0 }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("requests", () => {
  test("a signed shutdown round trip, with the requester's uid, pid and executable from the kernel", async () => {
    let afterRan = 0;
    const b: Running = start({
      handler: { shutdown: async (key, peer) => (b.calls.push(`${key.name} ${peer.uid} ${peer.pid} ${peer.exe}`), { ok: true, message: "Stopping", after: () => afterRan++ }) },
    });
    const reply = await signedShutdown(b.path);
    expect(reply).toEqual({ ok: true, message: "Stopping" });
    expect(b.calls).toEqual([`ops ${process.getuid!()} ${process.pid} ${realpathSync(process.execPath)}`]);
    await sleep(20);
    expect(afterRan).toBe(1);
    expect(b.events.map((e) => `${e.op} ${e.outcome}`)).toEqual(["challenge issued", "submit accepted"]);
    expect(b.events[1]).toMatchObject({ action: "shutdown", key: { name: "ops" }, peer: { pid: process.pid, uid: process.getuid!(), exe: realpathSync(process.execPath) } });
    expect(b.events[1]!.challenge).toBe(b.events[0]!.challenge!);
  });

  test("the peer is the other process, not the server's", async () => {
    const a = start();
    const child = Bun.spawn(
      [process.execPath, "-e", `const s = require("node:net").createConnection({ path: ${JSON.stringify(a.path)} }); s.on("connect", () => s.write('{"op":"challenge","action":"shutdown"}\\n')); s.on("data", (d) => { process.stdout.write(d); s.end(); });`],
      { stdout: "pipe" },
    );
    const out = await new Response(child.stdout).text();
    await child.exited;
    expect(JSON.parse(out)).toMatchObject({ ok: true });
    expect(a.events[0]!.peer).toMatchObject({ pid: child.pid, uid: process.getuid!(), exe: realpathSync(process.execPath) });
    expect(child.pid).not.toBe(process.pid);
  });

  test("a reload hands the handler the exact bytes; its diagnostics reach the requester", async () => {
    const policy = Buffer.from("version: 1\nfiles: oops\n");
    const a = start({
      handler: { reload: async (bytes, _key, _peer, name) => ({ ok: false, reason: "invalid-policy", message: "The new policy is invalid", diagnostics: `${name}: ${bytes.length} bytes: ${Buffer.from(bytes).toString("hex")}` }) },
    });
    const c = await requestAgent({ op: "challenge", action: "reload", policySha256: Buffer.from(sha256(policy)).toString("hex") }, { path: a.path });
    const parsed = parseChallenge(c.ok ? c.challenge! : "");
    if (!parsed.ok) throw new Error();
    const reply = await requestAgent({ op: "submit", action: "reload", response: signChallenge(parsed.value, ops), policy: policy.toString("base64") }, { path: a.path });
    expect(reply).toEqual({ ok: false, reason: "invalid-policy", message: "The new policy is invalid", diagnostics: `reload.yaml: ${policy.length} bytes: ${policy.toString("hex")}` });
    expect(a.events[1]).toMatchObject({ op: "submit", action: "reload", outcome: "failed", reason: "invalid-policy", key: { name: "ops" } });
  });

  test("a refused signature never reaches the handler, and the event names the signer", async () => {
    const a = start();
    const reply = await signedShutdown(a.path, stranger);
    expect(reply).toMatchObject({ ok: false, reason: "unknown-key" });
    expect(a.calls).toEqual([]);
    expect(a.events[1]).toMatchObject({ op: "submit", outcome: "refused", reason: "unknown-key", key: { fingerprint: expect.stringMatching(/^SHA256:/) } });
    expect(a.events[1]!.key!.name).toBeUndefined();
  });

  test("a handler that throws: an internal-error reply, and the server goes on", async () => {
    const a = start({ handler: { shutdown: async () => Promise.reject(new Error("boom")) } });
    expect(await signedShutdown(a.path)).toMatchObject({ ok: false, reason: "internal-error", message: "The agent failed to shutdown: boom" });
    expect(await requestAgent({ op: "challenge", action: "shutdown" }, { path: a.path })).toMatchObject({ ok: true });
  });

  test("an exception in the event hook surfaces from poll(), for the agent's error boundary", async () => {
    const dir = newDir();
    const path = join(dir, "run", "control.sock");
    const challenges = new Challenges({ identity: { host: "t", bootId: new Uint8Array(16), runId: new Uint8Array(16) }, keys: KEYS });
    let throwing = false;
    const server = ControlServer.listen({
      path,
      challenges,
      handler: { shutdown: async () => ({ ok: true, message: "x" }), reload: async () => ({ ok: true, message: "x" }) },
      onRequest: () => {
        if (throwing) throw new Error("hook bug");
      },
    });
    const errors: string[] = [];
    const timer = setInterval(() => {
      try {
        server.poll();
      } catch (e) {
        errors.push((e as Error).message);
      }
    }, 5);
    try {
      const c = await requestAgent({ op: "challenge", action: "shutdown" }, { path });
      const parsed = parseChallenge(c.ok ? c.challenge! : "");
      if (!parsed.ok) throw new Error();
      throwing = true;
      await requestAgent({ op: "submit", action: "shutdown", response: signChallenge(parsed.value, ops) }, { path, timeoutMs: 300 }).catch(() => {});
      await sleep(30);
      expect(errors).toEqual(["hook bug"]);
    } finally {
      clearInterval(timer);
      server.close();
    }
  });

  test.each([
    ["not json\n", "Request is not JSON"],
    ['{"op":"frob"}\n', 'Unknown request "frob"'],
    ['{"op":"challenge","action":"shutdown","extra":1}\n', 'Unknown field "extra" in a "challenge" request'],
    ['{"op":"challenge","action":"reload"}\n', "A reload challenge needs policySha256"],
    ['{"op":"challenge","action":"shutdown"}\n{"op":"challenge","action":"shutdown"}\n', "One request per connection"],
    ['{"op":"submit","action":"shutdown","response":"x","policyName":"a.yaml"}\n', "policyName comes with a policy"],
    ['{"op":"submit","action":"reload","response":"x","policy":"","policyName":"a\\nb"}\n', "policyName must be a file name"],
  ])("a bad request: %p", async (send, message) => {
    const a = start();
    const r = await raw(a.path, send);
    expect(JSON.parse(r.text)).toMatchObject({ ok: false, reason: "bad-request", message: expect.stringContaining(message) });
    expect(a.events.at(-1)).toMatchObject({ op: "invalid", outcome: "refused", reason: "bad-request" });
  });
});

describe("limits", () => {
  test("a request larger than the limit is refused without reading it all", async () => {
    const a = start({ limits: { maxRequestBytes: 4096 } });
    const r = await raw(a.path, Buffer.alloc(1024 * 1024, "a"));
    expect(JSON.parse(r.text)).toMatchObject({ ok: false, reason: "too-large", message: "Request is larger than 4096 bytes" });
    expect(a.server.connections).toBe(0);
  });

  test("a reload policy over the policy size limit is refused at the default limit", async () => {
    const a = start();
    const big = Buffer.alloc(MAX_RELOAD_POLICY_BYTES + 1, "#").toString("base64");
    const r = await raw(a.path, JSON.stringify({ op: "submit", action: "reload", response: "x", policy: big }) + "\n");
    expect(JSON.parse(r.text)).toMatchObject({ ok: false, reason: "too-large", message: expect.stringContaining(`Policy is too large (${MAX_RELOAD_POLICY_BYTES + 1} bytes`) });
  });

  test("a silent client and a slow one are cut off at the deadline and block nobody meanwhile", async () => {
    const a = start({ limits: { requestDeadlineMs: 1000 } });
    const silent = raw(a.path, null);
    const slow = raw(a.path, '{"op":"chall');
    await sleep(50);
    const t0 = performance.now();
    expect(await requestAgent({ op: "challenge", action: "shutdown" }, { path: a.path })).toMatchObject({ ok: true });
    expect(performance.now() - t0).toBeLessThan(700); // well before the deadline of the other two
    for (const r of await Promise.all([silent, slow])) {
      expect(JSON.parse(r.text)).toMatchObject({ ok: false, reason: "timeout" });
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(990);
      expect(r.closedAfterMs).toBeLessThan(3000);
    }
    expect(a.events.filter((e) => e.reason === "timeout")).toHaveLength(2);
    expect(a.server.connections).toBe(0);
  });

  test("connections beyond the limit wait in the kernel's queue until a slot frees", async () => {
    const a = start({ limits: { maxConnections: 2, requestDeadlineMs: 400 } });
    expect(a.server.accepted).toBe(0);
    const held = [raw(a.path, null), raw(a.path, null)];
    await sleep(50);
    expect(a.server.connections).toBe(2);
    expect(a.server.accepted).toBe(2);
    const t0 = performance.now();
    const waiting = requestAgent({ op: "challenge", action: "shutdown" }, { path: a.path });
    await sleep(100);
    expect(a.server.connections).toBe(2);
    expect(await waiting).toMatchObject({ ok: true });
    expect(a.server.accepted).toBe(3); // counted, open or not
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300); // served once the silent ones were cut off
    for (const r of await Promise.all(held)) expect(JSON.parse(r.text)).toMatchObject({ reason: "timeout" });
  });

  test("a connection that closes without sending anything leaves no event", async () => {
    const a = start();
    await new Promise<void>((resolve) => {
      const s = createConnection({ path: a.path });
      s.on("connect", () => s.end());
      s.on("close", () => resolve());
    });
    await sleep(30);
    expect(a.events).toEqual([]);
    expect(a.server.connections).toBe(0);
  });
});

describe("the socket file and its directory", () => {
  test("the directory is created 0700 and the socket 0600; close removes the socket", () => {
    const a = start();
    expect(statSync(join(a.path, "..")).mode & 0o777).toBe(0o700);
    expect(statSync(a.path).mode & 0o777).toBe(0o600);
    a.stop();
    running.pop();
    expect(existsSync(a.path)).toBe(false);
  });

  test("an existing directory is tightened to 0700", () => {
    const dir = join(newDir(), "run");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    start({ path: join(dir, "control.sock") });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test("a symbolic link, a file or a directory owned by another user is refused", () => {
    const base = newDir();
    mkdirSync(join(base, "real"));
    symlinkSync(join(base, "real"), join(base, "link"));
    writeFileSync(join(base, "file"), "");
    mkdirSync(join(base, "theirs"));
    const listen = (dir: string) => () => start({ path: join(base, dir, "control.sock") });
    expect(listen("link")).toThrow("it is a symbolic link");
    expect(listen("file")).toThrow("it is not a directory");
    if (process.getuid!() === 0) {
      chownSync(join(base, "theirs"), 65534, 65534);
      expect(listen("theirs")).toThrow(`it is owned by uid 65534, not by the agent's uid 0`);
    }
  });

  test("a stale socket is replaced; a live one, or a file in the way, is refused", async () => {
    const dir = join(newDir(), "run");
    mkdirSync(dir, { mode: 0o700 });
    const path = join(dir, "control.sock");
    closeFd(listenUnix(path, 1)); // bound, then its listener gone: what a killed agent leaves
    await expect(requestAgent({ op: "challenge", action: "shutdown" }, { path })).rejects.toThrow(`No agent is listening on "${path}"`);
    start({ path });
    expect(() => start({ path })).toThrow(`Another process is listening on the control socket "${path}"`);
    writeFileSync(join(dir, "plain"), "");
    expect(() => start({ path: join(dir, "plain") })).toThrow("a file that is not a socket is in the way");
  });

  test("no agent: the client says so, with a hint and exit code 3", async () => {
    const path = join(newDir(), "control.sock");
    const e = await requestAgent({ op: "challenge", action: "shutdown" }, { path }).catch((e) => e);
    expect(e).toBeInstanceOf(ControlError);
    expect(e).toMatchObject({ message: `No agent is running: the control socket "${path}" does not exist`, exit: 3, hint: expect.stringContaining("bomfather run --policy FILE") });
  });
});

test("a control event as a JSON line", () => {
  const peer = { pid: 42, uid: 0, gid: 0, exe: "/usr/local/bin/bomfather" };
  const at = new Date("2026-11-22T17:28:32.168Z");
  expect(JSON.stringify(controlEventLine({ op: "submit", action: "shutdown", outcome: "accepted", message: "Stopping", key: { name: "ops", fingerprint: "SHA256:abc" }, challenge: "0a0b0c0d0e0f", peer }, at))).toBe(
    '{"time":"2026-11-22T17:28:32.168Z","kind":"control","op":"shutdown","request":"submit","outcome":"accepted","message":"Stopping","key":"ops","fingerprint":"SHA256:abc","challenge":"0a0b0c0d0e0f","pid":42,"uid":0,"exe":"/usr/local/bin/bomfather"}',
  );
  expect(controlEventLine({ op: "invalid", outcome: "refused", reason: "timeout", message: "Request not received in time", peer: { ...peer, exe: null } }, at)).toEqual({
    time: "2026-11-22T17:28:32.168Z",
    kind: "control",
    op: "unknown",
    request: "invalid",
    outcome: "refused",
    reason: "timeout",
    message: "Request not received in time",
    pid: 42,
    uid: 0,
    exe: "",
  });
});
