// keygen, sign, shutdown and reload against an in-process agent socket at a temporary path.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keygenCommand, reloadCommand, shutdownCommand, signCommand, USAGE, type CommandIO } from "../../../src/control/commands.ts";
import { readPrivateKey } from "../../../src/control/keys.ts";
import { Challenges, type PolicyKey } from "../../../src/control/protocol.ts";
import { ControlServer, type ControlEvent } from "../../../src/control/socket.ts";

const dir = mkdtempSync(join(tmpdir(), "bf-cmd-"));
const at = (name: string) => join(dir, name);
const socketPath = at("run/control.sock");

function sh(...argv: string[]): void {
  const p = Bun.spawnSync(argv, { cwd: dir, stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr}`);
}

/** Run a command with captured streams and the given standard input. */
async function run(command: (io: CommandIO) => Promise<number>, stdin = "", path = socketPath) {
  let out = "";
  let err = "";
  const io: CommandIO = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, readStdin: async () => stdin, socketPath: path };
  const code = await command(io);
  return { code, out, err };
}

const calls: string[] = [];
const events: ControlEvent[] = [];
let server: ControlServer;
let timer: ReturnType<typeof setInterval>;
let reloadResult: { ok: false; reason: string; message: string; diagnostics: string } | null = null;

beforeAll(() => {
  sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", "ops.pem");
  sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "release");
  sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", "stranger.pem");
  const keys: PolicyKey[] = [
    { name: "ops", publicKey: readPrivateKey(at("ops.pem")).publicKey, allow: ["shutdown", "reload"] },
    { name: "release", publicKey: readPrivateKey(at("release")).publicKey, allow: ["reload"] },
  ];
  writeFileSync(at("new.yaml"), "version: 1\n# the new policy\n");
  writeFileSync(at("other.yaml"), "version: 1\n# another policy\n");
  server = ControlServer.listen({
    path: socketPath,
    challenges: new Challenges({ identity: { host: "web-3", bootId: new Uint8Array(16).fill(1), runId: new Uint8Array(16).fill(2) }, keys }),
    handler: {
      shutdown: async (key) => (calls.push(`shutdown by ${key.name}`), { ok: true, message: "Stopping: enforcement ends now" }),
      reload: async (policy, key, _peer, name, sha256) => {
        if (reloadResult) return reloadResult;
        calls.push(`reload of ${name} by ${key.name} (sha256 ${sha256}): ${Buffer.from(policy).toString()}`);
        return { ok: true, message: "Enforcing the new policy (generation 2)" };
      },
    },
    onRequest: (e) => events.push(e),
  });
  timer = setInterval(() => server.poll(), 5);
});

afterAll(() => {
  clearInterval(timer);
  server.close();
});

describe("keygen", () => {
  test("writes the pair and prints the policy lines", async () => {
    const r = await run((io) => keygenCommand({ name: at("oncall") }, io));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^    - name: oncall\n      key: MCowBQYDK2VwAyEA\S+\n      allow: \[shutdown, reload\]\n$/);
    expect(r.err).toContain("mode 0600");
    expect(statSync(at("oncall.pem")).mode & 0o777).toBe(0o600);
    expect(existsSync(at("oncall.pub.pem"))).toBe(true);
    const again = await run((io) => keygenCommand({ name: at("oncall") }, io));
    expect(again).toMatchObject({ code: 1, out: "" });
    expect(again.err).toBe(`bomfather: error: Refusing to overwrite "${at("oncall.pem")}"\nhint: choose another name, or move the old key away first\n`);
    expect((await run((io) => keygenCommand({}, io))).code).toBe(2);
  });
});

describe("signing here: --sign KEY", () => {
  test("reload with an OpenSSH key sends the exact bytes of the file", async () => {
    const r = await run((io) => reloadCommand({ policy: at("new.yaml"), sign: at("release") }, io));
    expect(r).toMatchObject({ code: 0, out: "" });
    expect(r.err).toBe("bomfather: Enforcing the new policy (generation 2)\n");
    // The handler is given the SHA-256 the verification computed: that of the bytes it is given.
    const sha256 = createHash("sha256").update("version: 1\n# the new policy\n").digest("hex");
    expect(calls.at(-1)).toBe(`reload of ${at("new.yaml")} by release (sha256 ${sha256}): version: 1\n# the new policy\n`);
  });

  test("a reload the agent refuses prints its diagnostics and exits 1", async () => {
    reloadResult = { ok: false, reason: "invalid-policy", message: "The new policy is invalid; the running policy stays", diagnostics: "new.yaml:2:1: error: Unknown key \"fils\"" };
    try {
      const r = await run((io) => reloadCommand({ policy: at("new.yaml"), sign: at("ops.pem") }, io));
      expect(r.code).toBe(1);
      expect(r.err).toBe('bomfather: error: The new policy is invalid; the running policy stays (invalid-policy)\nnew.yaml:2:1: error: Unknown key "fils"\n');
    } finally {
      reloadResult = null;
    }
  });

  test("shutdown with a key not allowed to, and with a key not in the policy", async () => {
    const notAllowed = await run((io) => shutdownCommand({ sign: at("release") }, io));
    expect(notAllowed.code).toBe(1);
    expect(notAllowed.err).toStartWith('bomfather: error: Key "release" may not shutdown the agent: its allow list is [reload] (key-not-allowed)\nhint: ');
    const unknown = await run((io) => shutdownCommand({ sign: at("stranger.pem") }, io));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^bomfather: error: Key SHA256:\S+ is not listed under agent\.keys in the running policy \(unknown-key\)\nhint: /);
  });

  test("an unusable key fails before the agent is asked", async () => {
    const before = events.length;
    const r = await run((io) => shutdownCommand({ sign: at("release.pub") }, io));
    expect(r.code).toBe(1);
    expect(r.err).toContain("is a public key; signing needs the private key");
    expect(events.length).toBe(before);
  });

  test("shutdown with an allowed key", async () => {
    const r = await run((io) => shutdownCommand({ sign: at("ops.pem") }, io));
    expect(r).toEqual({ code: 0, out: "", err: "bomfather: Stopping: enforcement ends now\n" });
    expect(calls.at(-1)).toBe("shutdown by ops");
  });
});

describe("air-gapped: --challenge, sign, --response", () => {
  test("shutdown in three steps, the response given as a file and as text", async () => {
    for (const as of ["file", "text", "stdin"] as const) {
      const c = await run((io) => shutdownCommand({ challenge: true }, io));
      expect(c.code).toBe(0);
      expect(c.out).toMatch(/^bomfather-challenge-v1:[A-Za-z0-9_-]+\n$/);
      expect(c.err).toContain("bomfather sign --key KEY < CHALLENGE-FILE");
      writeFileSync(at("challenge.txt"), c.out);
      const s = await run((io) => signCommand({ key: at("ops.pem"), input: at("challenge.txt") }, io));
      expect(s.code).toBe(0);
      expect(s.out).toMatch(/^bomfather-response-v1:[A-Za-z0-9_-]+\n$/);
      expect(s.err).toContain('shutdown\n  on host "web-3" (boot id 01010101-0101-0101-0101-010101010101), agent run 02020202020202020202020202020202');
      writeFileSync(at("response.txt"), s.out);
      const response = as === "file" ? at("response.txt") : as === "text" ? s.out : "-";
      const r = await run((io) => shutdownCommand({ response }, io), s.out);
      expect(r).toMatchObject({ code: 0, err: "bomfather: Stopping: enforcement ends now\n" });
      // The same response again is a replay.
      const again = await run((io) => shutdownCommand({ response: at("response.txt") }, io));
      expect(again.code).toBe(1);
      expect(again.err).toContain("was already answered (replayed)");
    }
  });

  test("reload in three steps; sign --policy refuses a challenge for another policy", async () => {
    const c = await run((io) => reloadCommand({ policy: at("new.yaml"), challenge: true }, io));
    expect(c.code).toBe(0);
    expect(c.err).toContain(`bomfather reload --policy ${at("new.yaml")} --response RESPONSE`);
    const wrong = await run((io) => signCommand({ key: at("ops.pem"), policy: at("other.yaml") }, io), c.out);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^bomfather: error: The challenge is for another policy: its SHA-256 is [0-9a-f]{64}, ".*other\.yaml" has [0-9a-f]{64}\nhint: refusing to sign/);
    const s = await run((io) => signCommand({ key: at("ops.pem"), policy: at("new.yaml") }, io), c.out);
    expect(s.code).toBe(0);
    // A mix-up is caught here, before it uses the challenge up at the agent.
    const asShutdown = await run((io) => shutdownCommand({ response: s.out }, io));
    expect(asShutdown.err).toBe('bomfather: error: The response signs a "reload", not a "shutdown"\nhint: use it with bomfather reload\n');
    const otherFile = await run((io) => reloadCommand({ policy: at("other.yaml"), response: s.out }, io));
    expect(otherFile.code).toBe(1);
    expect(otherFile.err).toContain("The response signs another policy");
    const r = await run((io) => reloadCommand({ policy: at("new.yaml"), response: s.out }, io));
    expect(r).toMatchObject({ code: 0, err: "bomfather: Enforcing the new policy (generation 2)\n" });
  });

  test("sign works with no agent, and names what it cannot read", async () => {
    const c = await run((io) => shutdownCommand({ challenge: true }, io));
    const s = await run((io) => signCommand({ key: at("release") }, io), c.out, at("no-agent/control.sock"));
    expect(s.code).toBe(0);
    const bad = await run((io) => signCommand({ key: at("ops.pem") }, io), "bomfather-response-v1:AAAA");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("Expected a challenge, got a response");
    expect((await run((io) => signCommand({}, io))).code).toBe(2);
  });
});

describe("errors", () => {
  test("no agent: exit 3 with a hint", async () => {
    const r = await run((io) => shutdownCommand({ sign: at("ops.pem") }, io), "", at("nowhere/control.sock"));
    expect(r.code).toBe(3);
    expect(r.err).toBe(`bomfather: error: No agent is running: the control socket "${at("nowhere/control.sock")}" does not exist\nhint: start the agent with: bomfather run --policy FILE\n`);
  });

  test.each([
    [{}, "Give --sign KEY, --challenge or --response TEXT"],
    [{ sign: "k", challenge: true }, "Give only one of --sign, --challenge and --response"],
  ])("usage: %p", async (opts, message) => {
    const r = await run((io) => shutdownCommand(opts, io));
    expect(r).toMatchObject({ code: 2, err: `bomfather: error: ${message}\nhint: see bomfather shutdown --help\n` });
  });

  test("reload without --policy, or with one that cannot be read", async () => {
    expect((await run((io) => reloadCommand({ sign: at("ops.pem") }, io))).code).toBe(2);
    const r = await run((io) => reloadCommand({ policy: at("missing.yaml"), sign: at("ops.pem") }, io));
    expect(r).toMatchObject({ code: 1, err: `bomfather: error: Cannot read policy "${at("missing.yaml")}": no such file\n` });
  });

  test("a response file that is not a response", async () => {
    writeFileSync(at("junk.txt"), "hello\n");
    const r = await run((io) => shutdownCommand({ response: at("junk.txt") }, io));
    expect(r.code).toBe(1);
    expect(r.err).toContain('Response does not start with "bomfather-response-v1:"');
  });

  test("every command has its usage text", () => {
    for (const [name, text] of Object.entries(USAGE)) expect(text).toStartWith(`Usage: bomfather ${name}`);
    expect(readFileSync(at("new.yaml"), "utf8")).toContain("the new policy");
  });
});
