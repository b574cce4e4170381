// bomfather's command line. One error boundary: expected failures print a message and a
// hint and exit with a stable code; anything else is a bug and prints its stack.
import { readFileSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { ABI_VERSION } from "./abi.ts";
import { runAgent } from "./agent/run.ts";
import { keygenCommand, reloadCommand, shutdownCommand, signCommand, USAGE, type CommandIO } from "./control/index.ts";
import { CliError, EXIT } from "./exit.ts";
import { canEnforce, formatChecks, runChecks } from "./kernel/doctor.ts";
import { checkPolicy, formatDiagnostics, formatDiagnosticsJson, type Diagnostic } from "./policy/index.ts";

export { CliError, EXIT };

const HELP: Record<string, string> = {
  main: `bomfather ${pkg.version}: runtime protection enforced by BPF LSM programs

Usage:
  bomfather --policy FILE        enforce a policy (same as: bomfather run --policy FILE)
  bomfather run --policy FILE    enforce a policy; events are JSON lines on stdout
  bomfather check [--json] FILE...
                                 validate policies without touching the kernel
  bomfather doctor [--json]      can this host enforce? what to fix if not
  bomfather shutdown --sign KEY  stop the agent (a key listed under agent.keys signs the request)
  bomfather reload --policy FILE --sign KEY
                                 replace the running policy, with no moment unprotected
  bomfather sign --key KEY       sign a challenge on another machine (offline keys)
  bomfather keygen NAME          write an Ed25519 key pair and print its agent.keys lines
  bomfather version              print the version
  bomfather COMMAND --help       help for one command

Exit codes: 0 ok, 1 invalid policy, 2 usage error, 3 this host cannot enforce.`,
  run: `Usage: bomfather run --policy FILE

Checks the policy and the host, loads the policy into the kernel and enforces it until
stopped (SIGINT or SIGTERM; SIGHUP is ignored). The policy loads entirely or not at all.
Each decision worth reporting is one JSON line on stdout; status messages go to stderr. If
stdout's reader goes away, enforcement continues without events.

Exit codes: 0 stopped cleanly, 1 invalid policy (or names paths missing on this host),
2 usage error, 3 this host cannot enforce (run \`bomfather doctor\`).`,
  check: `Usage: bomfather check [--json] FILE...

Validates policies from their text alone and prints every problem at once as
file:line:col: error: message, with the source line and a hint. Paths missing on this
machine are warnings (the policy may be meant for another host).

  --json   print the diagnostics as a JSON array

Exit codes: 0 valid (warnings allowed), 1 errors found, 2 usage error.`,
  doctor: `Usage: bomfather doctor [--json]

Checks whether this host can enforce policies: kernel version, root, BTF, the active LSM
list, a real test load of a BPF LSM program, the agent's own programs through this kernel's
verifier, bpffs, cgroup v2 and fs-verity. Prints a hint for everything missing.

Exit codes: 0 this host can enforce, 3 it cannot.`,
  shutdown: USAGE.shutdown,
  reload: USAGE.reload,
  sign: USAGE.sign,
  keygen: USAGE.keygen,
  version: `Usage: bomfather version

Prints the version of bomfather and of its kernel ABI.`,
};

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

const FLAGS: Record<string, { takesValue: boolean; commands: string[] }> = {
  "--policy": { takesValue: true, commands: ["run", "reload", "sign"] },
  "--json": { takesValue: false, commands: ["check", "doctor"] },
  "--sign": { takesValue: true, commands: ["shutdown", "reload"] },
  "--challenge": { takesValue: false, commands: ["shutdown", "reload"] },
  "--response": { takesValue: true, commands: ["shutdown", "reload"] },
  "--key": { takesValue: true, commands: ["sign"] },
  "--help": { takesValue: false, commands: ["main", "run", "check", "doctor", "version", "shutdown", "reload", "sign", "keygen"] },
};

export function parseArgs(argv: string[]): Args {
  const args = [...argv];
  const first = args[0];
  if (first === undefined) {
    throw new CliError("No command given", EXIT.USAGE, "to enforce a policy: bomfather --policy FILE; for every command: bomfather --help");
  }
  if (first === "--help" || first === "-h") return { command: "main", positional: [], flags: new Map([["--help", true]]) };
  if (first === "--version") return { command: "version", positional: [], flags: new Map() };
  const command = first.startsWith("-") ? "run" : args.shift()!;
  if (command === "help") {
    const topic = args[0] ?? "main";
    if (!HELP[topic] || topic === "main" && args[0] !== undefined) throw new CliError(`No help for "${topic}"`, EXIT.USAGE, "commands: run, check, doctor, version");
    return { command: topic, positional: [], flags: new Map([["--help", true]]) };
  }
  if (!HELP[command] || command === "main") {
    throw new CliError(`Unknown command "${command}"`, EXIT.USAGE, "commands: run, check, doctor, version (see bomfather --help)");
  }
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  while (args.length) {
    const a = args.shift()!;
    if (a === "-h") {
      flags.set("--help", true);
      continue;
    }
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const spec = FLAGS[name];
    if (!spec || !spec.commands.includes(command)) {
      throw new CliError(`Unknown option "${name}" for "${command === "main" ? "bomfather" : command}"`, EXIT.USAGE, `see bomfather ${command === "main" ? "" : command + " "}--help`);
    }
    if (spec.takesValue) {
      const v = inline ?? args.shift();
      if (v === undefined || v === "") throw new CliError(`Option "${name}" needs a value`, EXIT.USAGE, `for example: ${name} policies/demo.yaml`);
      flags.set(name, v);
    } else {
      if (inline !== undefined) throw new CliError(`Option "${name}" takes no value`, EXIT.USAGE);
      flags.set(name, true);
    }
  }
  return { command, positional, flags };
}

function readPolicy(file: string): string | Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(code ?? e);
    throw new CliError(`Cannot read policy "${file}": ${why}`, EXIT.INVALID_POLICY);
  }
}

function sourceText(raw: string | Uint8Array): string {
  return typeof raw === "string" ? raw : new TextDecoder().decode(raw);
}

function printDiagnostics(diags: Diagnostic[], raw: string | Uint8Array): void {
  if (diags.length) process.stderr.write(formatDiagnostics(diags, sourceText(raw)));
}

function cmdCheck(a: Args): number {
  if (a.positional.length === 0) throw new CliError("No policy file given", EXIT.USAGE, "usage: bomfather check [--json] FILE...");
  const all: Diagnostic[] = [];
  let errors = 0;
  let warnings = 0;
  for (const file of a.positional) {
    let raw: string | Uint8Array;
    try {
      raw = readPolicy(file);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      const d: Diagnostic = { file, line: 1, col: 1, severity: "error", message: e.message, path: [] };
      all.push(d);
      errors++;
      if (!a.flags.has("--json")) process.stderr.write(`${file}: error: ${e.message}\n`);
      continue;
    }
    const { diagnostics } = checkPolicy(raw, file);
    all.push(...diagnostics);
    errors += diagnostics.filter((d) => d.severity === "error").length;
    warnings += diagnostics.filter((d) => d.severity === "warning").length;
    if (!a.flags.has("--json")) printDiagnostics(diagnostics, raw);
  }
  if (a.flags.has("--json")) process.stdout.write(formatDiagnosticsJson(all) + "\n");
  else if (errors === 0) process.stderr.write(`${a.positional.join(", ")}: valid${warnings ? `, ${warnings} warning(s)` : ""}\n`);
  return errors ? EXIT.INVALID_POLICY : EXIT.OK;
}

async function cmdDoctor(a: Args): Promise<number> {
  const checks = await runChecks();
  if (a.flags.has("--json")) process.stdout.write(JSON.stringify({ canEnforce: canEnforce(checks), checks }, null, 2) + "\n");
  else process.stdout.write(formatChecks(checks) + "\n");
  return canEnforce(checks) ? EXIT.OK : EXIT.CANNOT_ENFORCE;
}

async function cmdRun(a: Args): Promise<number> {
  const file = a.flags.get("--policy");
  if (typeof file !== "string") {
    throw new CliError("No policy given", EXIT.USAGE, "usage: bomfather --policy FILE (try policies/demo.yaml)");
  }
  if (a.positional.length) throw new CliError(`Unexpected argument "${a.positional[0]}"`, EXIT.USAGE, "usage: bomfather --policy FILE");
  return runAgent(file);
}

/** The commands of src/control: stop or reload the running agent, sign, make keys. */
async function cmdControl(a: Args): Promise<number> {
  const str = (flag: string) => {
    const v = a.flags.get(flag);
    return typeof v === "string" ? v : undefined;
  };
  const io: CommandIO = {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: () => Bun.stdin.text(),
  };
  const extra = (max: number) => {
    if (a.positional.length > max) throw new CliError(`Unexpected argument "${a.positional[max]}"`, EXIT.USAGE, `see bomfather ${a.command} --help`);
  };
  switch (a.command) {
    case "shutdown":
      extra(0);
      return shutdownCommand({ sign: str("--sign"), challenge: a.flags.has("--challenge"), response: str("--response") }, io);
    case "reload":
      extra(0);
      return reloadCommand({ policy: str("--policy"), sign: str("--sign"), challenge: a.flags.has("--challenge"), response: str("--response") }, io);
    case "sign":
      extra(1);
      return signCommand({ key: str("--key"), policy: str("--policy"), input: a.positional[0] }, io);
    default:
      extra(1);
      return keygenCommand({ name: a.positional[0] }, io);
  }
}

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (a.flags.has("--help") || a.command === "main") {
    process.stdout.write(HELP[a.command] + "\n");
    return EXIT.OK;
  }
  switch (a.command) {
    case "version":
      process.stdout.write(`bomfather ${pkg.version} (kernel ABI ${ABI_VERSION})\n`);
      return EXIT.OK;
    case "check":
      return cmdCheck(a);
    case "doctor":
      return cmdDoctor(a);
    case "shutdown":
    case "reload":
    case "sign":
    case "keygen":
      return cmdControl(a);
    default:
      return cmdRun(a);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      if (e instanceof CliError) {
        process.stderr.write(`bomfather: error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}`);
        process.exit(e.code);
      }
      process.stderr.write(`bomfather: internal error (a bug, please report it):\n${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(EXIT.BUG);
    },
  );
}
