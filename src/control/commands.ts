// The commands that stop or change a running agent, and those that make and use signing keys:
//
//   bomfather keygen NAME
//   bomfather shutdown --sign KEY | --challenge | --response TEXT|FILE
//   bomfather reload --policy FILE (--sign KEY | --challenge | --response TEXT|FILE)
//   bomfather sign --key KEY [--policy FILE] [CHALLENGE-FILE]
//
// Each takes options already parsed by the command line, writes to the given streams, and returns
// the exit code. Expected failures print "bomfather: error: ..." and a hint; anything else throws
// (a bug, for the command line's error boundary).

import { readFileSync } from "node:fs";
import { EXIT } from "../exit.ts";
import { CHALLENGE_TIMEOUT_MS, requestAgent, SUBMIT_TIMEOUT_MS } from "./client.ts";
import { ControlError } from "./error.ts";
import { policyKeyLines, readPrivateKey, writeKeyPair, fingerprint } from "./keys.ts";
import {
  CHALLENGE_TTL_NS,
  describeChallenge,
  MAX_RELOAD_POLICY_BYTES,
  parseChallenge,
  parseResponse,
  sha256,
  signChallenge,
  type Action,
  type Reply,
} from "./protocol.ts";

export interface CommandIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** The whole of standard input (for `sign` and `--response -`). */
  readStdin: () => Promise<string>;
  /** The agent's socket; default SOCKET_PATH. */
  socketPath?: string;
}

export interface KeygenOptions {
  /** NAME, or a path ending in NAME: writes NAME.pem and NAME.pub.pem there. */
  name?: string;
}

export interface SignOptions {
  key?: string;
  /** A file holding the challenge; "-" or absent: standard input. */
  input?: string;
  /** For a reload: the policy file the signer reviewed; its SHA-256 must be the challenge's. */
  policy?: string;
}

export interface ShutdownOptions {
  sign?: string;
  challenge?: boolean;
  response?: string;
}

export interface ReloadOptions extends ShutdownOptions {
  policy?: string;
}

const TTL_S = Number(CHALLENGE_TTL_NS / 1_000_000_000n);

export const USAGE = {
  keygen: `Usage: bomfather keygen NAME

Writes a new Ed25519 key pair: NAME.pem (the private key, PKCS#8, mode 0600) and NAME.pub.pem
(the public key), and prints the lines to paste under agent.keys in a policy. NAME may be a path
(keys/ops-oncall); its last component names the key in the policy. Existing files are never
overwritten. Keep the private key off the hosts it protects.

Exit codes: 0 written, 1 cannot write, 2 usage error.`,
  shutdown: `Usage: bomfather shutdown --sign KEY
       bomfather shutdown --challenge
       bomfather shutdown --response TEXT|FILE

Stops the running agent with a request signed by a private key listed under agent.keys (allowed
"shutdown"). The agent's enforcement ends and it exits.

  --sign KEY         ask the agent for a challenge, sign it with KEY (the PEM that "openssl
                     genpkey -algorithm ed25519" writes, or an unencrypted OpenSSH ed25519 key)
                     and send the response: all in one step, on this host
  --challenge        print the agent's challenge, to sign elsewhere with "bomfather sign"
  --response TEXT    send the response "bomfather sign" printed (the text, a file holding it,
                     or - for standard input); within ${TTL_S} s of the challenge

A challenge is good for one response, on this host, for this run of the agent.

Exit codes: 0 the agent is stopping, 1 refused (the reason is printed), 2 usage error,
3 no agent is running (or it cannot be reached).`,
  reload: `Usage: bomfather reload --policy FILE --sign KEY
       bomfather reload --policy FILE --challenge
       bomfather reload --policy FILE --response TEXT|FILE

Replaces the running agent's policy with FILE, with a request signed by a private key listed
under agent.keys (allowed "reload"). The signature covers the SHA-256 of FILE's exact bytes.
The agent checks and compiles the new policy first: on any error it prints the diagnostics and
the running policy stays.

  --sign KEY         ask for a challenge, sign it with KEY and send FILE with the response
  --challenge        print the agent's challenge for FILE, to sign elsewhere with "bomfather sign"
  --response TEXT    send FILE and the response "bomfather sign" printed (the text, a file
                     holding it, or - for standard input); within ${TTL_S} s of the challenge

Exit codes: 0 the new policy is enforced, 1 refused or invalid policy (the reason is printed),
2 usage error, 3 no agent is running (or it cannot be reached).`,
  sign: `Usage: bomfather sign --key KEY [--policy FILE] [CHALLENGE-FILE]

Signs a challenge printed by "bomfather shutdown --challenge" or "bomfather reload --policy FILE
--challenge", read from CHALLENGE-FILE or standard input, and prints the response to give back
to the agent. Needs no agent: run it on the machine that holds the key. It says what it signs
(action, host, policy SHA-256) on standard error.

  --key KEY       the private key (openssl PKCS#8 PEM, or an unencrypted OpenSSH ed25519 key)
  --policy FILE   for a reload: refuse unless FILE is the policy the challenge is for

Exit codes: 0 signed, 1 unreadable key or challenge, or the wrong policy, 2 usage error.`,
} as const;

const q = (s: string) => JSON.stringify(s);

/** Run a command body: a ControlError becomes its message, hint and exit code. */
async function guarded(io: CommandIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    io.stderr.write(`bomfather: error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}`);
    return e.exit;
  }
}

const usage = (message: string, command: keyof typeof USAGE) => new ControlError(message, `see bomfather ${command} --help`, EXIT.USAGE);

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code ?? e);
    throw new ControlError(`Cannot read ${what} ${q(file)}: ${why}`);
  }
}

function readPolicy(file: string): Buffer {
  const bytes = readInput(file, "policy");
  if (bytes.length > MAX_RELOAD_POLICY_BYTES) throw new ControlError(`Policy ${q(file)} is too large (${bytes.length} bytes)`, `the limit is ${MAX_RELOAD_POLICY_BYTES} bytes (${MAX_RELOAD_POLICY_BYTES / 1024 / 1024} MiB)`);
  return bytes;
}

/** A refusal from the agent: its message, hint and diagnostics, exit 1. */
function refused(io: CommandIO, reply: Extract<Reply, { ok: false }>): number {
  io.stderr.write(`bomfather: error: ${reply.message} (${reply.reason})\n${reply.hint ? `hint: ${reply.hint}\n` : ""}`);
  if (reply.diagnostics) io.stderr.write(reply.diagnostics.endsWith("\n") ? reply.diagnostics : reply.diagnostics + "\n");
  return EXIT.REFUSED;
}

export function keygenCommand(opts: KeygenOptions, io: CommandIO): Promise<number> {
  return guarded(io, async () => {
    if (!opts.name) throw usage("No key name given", "keygen");
    const pair = writeKeyPair(opts.name);
    io.stderr.write(
      `bomfather: wrote ${pair.privateFile} (private key, mode 0600: keep it off the hosts it protects) and ${pair.publicFile}\n` +
        `bomfather: key ${pair.name}, fingerprint ${fingerprint(pair.publicKey)}; paste these lines under agent.keys (keep only the operations it needs in allow):\n`,
    );
    io.stdout.write(policyKeyLines(pair.name, pair.publicKey));
    return EXIT.OK;
  });
}

export function signCommand(opts: SignOptions, io: CommandIO): Promise<number> {
  return guarded(io, async () => {
    if (!opts.key) throw usage("No key given", "sign");
    const key = readPrivateKey(opts.key);
    const text = opts.input === undefined || opts.input === "-" ? await io.readStdin() : readInput(opts.input, "challenge").toString("utf8");
    const parsed = parseChallenge(text);
    if (!parsed.ok) throw new ControlError(parsed.refusal.message, parsed.refusal.hint);
    const c = parsed.value;
    if (opts.policy !== undefined) {
      if (c.action !== "reload") throw new ControlError(`The challenge is for a ${q(c.action)}, not a reload of ${q(opts.policy)}`, "drop --policy to sign it");
      const hash = sha256(readPolicy(opts.policy));
      if (!Buffer.from(hash).equals(c.policySha256!))
        throw new ControlError(`The challenge is for another policy: its SHA-256 is ${Buffer.from(c.policySha256!).toString("hex")}, ${q(opts.policy)} has ${Buffer.from(hash).toString("hex")}`, "refusing to sign: get a challenge for the policy you reviewed");
    }
    io.stderr.write(`bomfather: signing with key ${fingerprint(key.publicKey)} (${key.format}): ${describeChallenge(c)}\n`);
    if (c.action === "reload" && opts.policy === undefined) io.stderr.write("bomfather: compare that SHA-256 with the policy you reviewed (sha256sum FILE), or pass --policy FILE to have it checked\n");
    io.stdout.write(signChallenge(c, key) + "\n");
    return EXIT.OK;
  });
}

export function shutdownCommand(opts: ShutdownOptions, io: CommandIO): Promise<number> {
  return guarded(io, () => control("shutdown", opts, null, io));
}

export function reloadCommand(opts: ReloadOptions, io: CommandIO): Promise<number> {
  return guarded(io, async () => {
    if (!opts.policy) throw usage("No policy given", "reload");
    return control("reload", opts, readPolicy(opts.policy), io);
  });
}

/** The three ways to ask: sign here, print the challenge, or send a response signed elsewhere. */
async function control(action: Action, opts: ReloadOptions, policy: Buffer | null, io: CommandIO): Promise<number> {
  const modes = [opts.sign !== undefined, opts.challenge === true, opts.response !== undefined].filter(Boolean).length;
  if (modes !== 1) throw usage(modes ? "Give only one of --sign, --challenge and --response" : "Give --sign KEY, --challenge or --response TEXT", action);
  const path = io.socketPath === undefined ? {} : { path: io.socketPath };
  const hash = policy ? sha256(policy) : null;

  let response: string;
  if (opts.response !== undefined) {
    // The text itself (or a challenge pasted by mistake, which the parser names), stdin, or a file.
    const isText = /^bomfather-[a-z]+-v[0-9]+:/.test(opts.response.trim());
    response = isText ? opts.response : opts.response === "-" ? await io.readStdin() : readInput(opts.response, "response").toString("utf8");
    // Checked here as well as by the agent, so that a mix-up does not use the challenge up.
    const r = parseResponse(response);
    if (!r.ok) throw new ControlError(r.refusal.message, r.refusal.hint);
    if (r.value.challenge.action !== action) throw new ControlError(`The response signs a ${q(r.value.challenge.action)}, not a ${q(action)}`, `use it with bomfather ${r.value.challenge.action}`);
    if (hash && !Buffer.from(hash).equals(r.value.challenge.policySha256!))
      throw new ControlError(`The response signs another policy: SHA-256 ${Buffer.from(r.value.challenge.policySha256!).toString("hex")}, not that of ${q(opts.policy ?? "")}`, "give the policy file the challenge was issued for, unchanged");
  } else {
    const key = opts.sign !== undefined ? readPrivateKey(opts.sign) : null;
    const reply = await requestAgent(hash ? { op: "challenge", action, policySha256: Buffer.from(hash).toString("hex") } : { op: "challenge", action }, { ...path, timeoutMs: CHALLENGE_TIMEOUT_MS });
    if (!reply.ok) return refused(io, reply);
    const text = reply.challenge ?? "";
    if (!key) {
      io.stdout.write(text + "\n");
      const policyArg = opts.policy ? ` --policy ${opts.policy}` : "";
      io.stderr.write(
        `bomfather: sign it on the machine that holds the key: bomfather sign --key KEY${policyArg} < CHALLENGE-FILE\n` +
          `bomfather: then, within ${TTL_S} s, on this host: bomfather ${action}${policyArg} --response RESPONSE\n`,
      );
      return EXIT.OK;
    }
    const c = parseChallenge(text);
    if (!c.ok) throw new ControlError(`The agent's challenge is unreadable: ${c.refusal.message}`, "use the bomfather binary of the same version as the agent", EXIT.NO_AGENT);
    if (c.value.action !== action || (hash && !Buffer.from(hash).equals(c.value.policySha256!)))
      throw new ControlError("The agent's challenge is not for this request", "use the bomfather binary of the same version as the agent", EXIT.NO_AGENT);
    response = signChallenge(c.value, key);
  }

  // The file's name only labels the agent's diagnostics; one the agent would not accept is left out.
  const name = opts.policy !== undefined && opts.policy.length <= 1024 && !/[\x00-\x1f\x7f]/.test(opts.policy) ? { policyName: opts.policy } : {};
  const reply = await requestAgent(
    policy ? { op: "submit", action, response: response.trim(), policy: policy.toString("base64"), ...name } : { op: "submit", action, response: response.trim() },
    { ...path, timeoutMs: SUBMIT_TIMEOUT_MS },
  );
  if (!reply.ok) return refused(io, reply);
  io.stderr.write(`bomfather: ${reply.message ?? `the agent accepted the ${action}`}\n`);
  return EXIT.OK;
}

