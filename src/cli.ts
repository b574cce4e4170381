// bomfather's command line. One error boundary: expected failures print a message and a
// hint and exit with a stable code; anything else is a bug and prints its stack.
import { parseArgs as parseArgv } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { ABI_VERSION } from "./abi.ts";
import type { CheckResult, Diagnostic } from "./policy/index.ts";
import { ReadError, readPolicyBytes, STDIN_NAME } from "./policy/read.ts";
import { closest } from "./policy/suggest.ts";
import { USAGE as CONTROL_USAGE } from "./control/commands.ts";
import { CliError, EXIT } from "./exit.ts";

export { CliError, EXIT };

const VERSION = `bomfather ${pkg.version} (kernel ABI ${ABI_VERSION})`;

const HELP = {
  main: `bomfather ${pkg.version}: runtime protection enforced by BPF LSM programs

Usage:
  bomfather --policy FILE        enforce a policy (same as: bomfather run --policy FILE)
  bomfather run --policy FILE    enforce a policy; events are JSON lines on stdout
  bomfather check [--json] FILE...
                                 validate policies without touching the kernel
  bomfather digest FILE...       print files' fs-verity digests, as "fsverity digest" does
  bomfather doctor [--json]      can this host enforce? what to fix if not
  bomfather shutdown --sign KEY  stop the agent (a key listed under agent.keys signs the request)
  bomfather reload --policy FILE --sign KEY
                                 replace the running policy, with no moment unprotected
  bomfather sign --key KEY [FILE]
                                 sign a challenge on another machine (offline keys)
  bomfather keygen NAME          write an Ed25519 key pair and print its agent.keys lines
  bomfather version              print the version
  bomfather COMMAND --help       help for one command

Every command also takes --help (-h) and --version (-V).
Exit codes: 0 ok, 1 invalid policy or refused request, 2 usage error, 3 this host cannot
enforce (or no agent runs), 4 another agent already enforces here, 70 internal error.`,
  run: `Usage: bomfather run --policy FILE

Checks the policy and the host, loads the policy into the kernel and enforces it until
stopped (SIGINT or SIGTERM; SIGHUP is ignored). The policy loads entirely or not at all.
Each decision worth reporting is one JSON line on stdout; status messages go to stderr. If
stdout's reader goes away, enforcement continues without events. FILE "-" reads the policy
from standard input.

  -p, --policy FILE   the policy to enforce

Needs CAP_BPF, CAP_PERFMON, CAP_MAC_ADMIN and CAP_DAC_READ_SEARCH (root has them).

Exit codes: 0 stopped cleanly, 1 invalid policy (or names paths missing on this host),
2 usage error, 3 this host cannot enforce (run \`bomfather doctor\`).`,
  check: `Usage: bomfather check [--json] FILE...

Validates policies from their text alone and reports every problem at once: errors first,
then warnings, each as file:line:col: severity: message, with the source line and a hint,
then one verdict line per file ("policies/demo.yaml: valid, 2 warnings"). Everything
"bomfather run" would refuse from the text is an error; paths missing on this machine are
warnings (the policy may be meant for another host). At most 100 problems are printed per
file; the verdict counts them all. FILE "-" reads standard input.

  --json   print one JSON object instead: {"errors", "warnings", "diagnostics": [...]},
           every diagnostic of every file

Exit codes: 0 valid (warnings allowed), 1 errors found, 2 usage error.`,
  digest: `Usage: bomfather digest FILE...

Prints the fs-verity digest of each file, one line per file in the order given, exactly as
"fsverity digest FILE..." prints it: "sha256:<64 hex digits> FILE". The digest is computed
from the file's content (SHA-256 Merkle tree, 4096-byte blocks, no salt): the file needs no
fs-verity. Copy the "sha256:..." part into a policy's executables.<name>.digest. FILE "-"
reads standard input.

Exit codes: 0 every file digested, 1 a file cannot be read (missing, a directory, a FIFO, a
device, no permission: the others are still printed), 2 usage error.`,
  doctor: `Usage: bomfather doctor [--json]

Checks whether this host can enforce policies: kernel version, capabilities, BTF, the
active LSM list, a real test load of a BPF LSM program, the agent's own programs through
this kernel's verifier, bpffs, cgroup v2 and fs-verity. Prints a hint for everything missing.

  --json   print {"version", "abi", "canEnforce", "checks": [...]} instead

Exit codes: 0 this host can enforce, 3 it cannot.`,
  shutdown: CONTROL_USAGE.shutdown,
  reload: CONTROL_USAGE.reload,
  sign: CONTROL_USAGE.sign,
  keygen: CONTROL_USAGE.keygen,
  version: `Usage: bomfather version

Prints the version of bomfather and of its kernel ABI (also: bomfather --version, -V).`,
} as const;

type Command = Exclude<keyof typeof HELP, "main">;
const COMMANDS = ["run", "check", "digest", "doctor", "shutdown", "reload", "sign", "keygen", "version"] as const satisfies readonly Command[];

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
}
const COMMON: Record<string, OptionSpec> = { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "V" } };
const OPTIONS: Record<Command, Record<string, OptionSpec>> = {
  run: { ...COMMON, policy: { type: "string", short: "p" } },
  check: { ...COMMON, json: { type: "boolean" } },
  digest: { ...COMMON },
  doctor: { ...COMMON, json: { type: "boolean" } },
  shutdown: { ...COMMON, sign: { type: "string" }, challenge: { type: "boolean" }, response: { type: "string" } },
  reload: { ...COMMON, policy: { type: "string", short: "p" }, sign: { type: "string" }, challenge: { type: "boolean" }, response: { type: "string" } },
  sign: { ...COMMON, key: { type: "string" }, policy: { type: "string", short: "p" } },
  keygen: { ...COMMON },
  version: { ...COMMON },
};
/** How many positional arguments each command takes. */
const POSITIONALS: Record<Command, { min: number; max: number }> = {
  run: { min: 0, max: 0 },
  check: { min: 1, max: Infinity },
  digest: { min: 1, max: Infinity },
  doctor: { min: 0, max: 0 },
  shutdown: { min: 0, max: 0 },
  reload: { min: 0, max: 0 },
  sign: { min: 0, max: 1 },
  keygen: { min: 1, max: 1 },
  version: { min: 0, max: 0 },
};

export interface Args {
  command: Command | "main";
  help: boolean;
  version: boolean;
  /** Options given, by long name. */
  options: Record<string, string | true>;
  positionals: string[];
}

function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const near = closest(word, candidates);
  return near === undefined ? undefined : `did you mean "${near}"?`;
}

/** The command line, parsed with util.parseArgs; every mistake is a CliError with exit code 2. */
export function parseArgs(argv: readonly string[]): Args {
  const first = argv[0];
  if (first === undefined) {
    throw new CliError("No command given", EXIT.USAGE, "to enforce a policy: bomfather --policy FILE; for every command: bomfather --help");
  }
  if (first === "help") {
    if (argv.length > 2) throw new CliError(`Unexpected argument ${JSON.stringify(argv[2])}`, EXIT.USAGE, "usage: bomfather help [COMMAND]");
    const topic = argv[1];
    if (topic === undefined) return { command: "main", help: true, version: false, options: {}, positionals: [] };
    if (!(COMMANDS as readonly string[]).includes(topic))
      throw new CliError(`No help for ${JSON.stringify(topic)}`, EXIT.USAGE, didYouMean(topic, COMMANDS) ?? `commands: ${COMMANDS.join(", ")}`);
    return { command: topic as Command, help: true, version: false, options: {}, positionals: [] };
  }
  // "bomfather --policy FILE" is "bomfather run --policy FILE"; --help and --version alone are the program's own.
  let command: Command | "main";
  let rest: readonly string[];
  if (first.startsWith("-") && first !== "-") {
    const alone = argv.length === 1;
    if (alone && (first === "--help" || first === "-h")) return { command: "main", help: true, version: false, options: {}, positionals: [] };
    if (alone && (first === "--version" || first === "-V")) return { command: "version", help: false, version: true, options: {}, positionals: [] };
    command = "run";
    rest = argv;
  } else {
    if (!(COMMANDS as readonly string[]).includes(first)) {
      throw new CliError(`Unknown command ${JSON.stringify(first)}`, EXIT.USAGE, didYouMean(first, COMMANDS) ?? `commands: ${COMMANDS.join(", ")} (see bomfather --help)`);
    }
    command = first as Command;
    rest = argv.slice(1);
  }

  const specs = OPTIONS[command];
  const where = command === "run" && rest === argv ? "bomfather" : `bomfather ${command}`;
  const { tokens } = parseArgv({ args: [...rest], options: specs, strict: false, allowPositionals: true, tokens: true });
  const options: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    const spec = Object.hasOwn(specs, t.name) ? specs[t.name] : undefined;
    if (!spec) {
      const long = Object.keys(specs).map((name) => `--${name}`);
      const hint = t.rawName === "-v" ? 'did you mean "-V" (--version)?' : t.rawName.startsWith("--") ? didYouMean(t.rawName, long) : undefined;
      throw new CliError(`Unknown option ${JSON.stringify(t.rawName)} for "${where}"`, EXIT.USAGE, hint ?? `see ${where} --help`);
    }
    if (spec.type === "string") {
      // util.parseArgs takes the next argument even when it is an option ("--policy --json").
      if (t.value === undefined || t.value === "" || (!t.inlineValue && t.value.startsWith("-") && t.value !== "-"))
        throw new CliError(`Option "--${t.name}" needs a value`, EXIT.USAGE, `for example: --${t.name} policies/demo.yaml`);
      options[t.name] = t.value;
    } else {
      if (t.value !== undefined) throw new CliError(`Option "--${t.name}" takes no value`, EXIT.USAGE, `write "--${t.name}" alone`);
      options[t.name] = true;
    }
  }
  const help = options.help === true;
  const version = options.version === true;
  delete options.help;
  delete options.version;
  if (!help && !version) {
    const { min, max } = POSITIONALS[command];
    if (positionals.length > max) {
      const extra = positionals[max]!;
      const hint =
        command === "run" && options.policy === undefined
          ? `to enforce it: bomfather run --policy ${extra}`
          : `usage: ${HELP[command].split("\n")[0]!.replace(/^Usage: /, "")}`;
      throw new CliError(`Unexpected argument ${JSON.stringify(extra)} for "${where}"`, EXIT.USAGE, hint);
    }
    if (positionals.length < min) {
      const what = command === "keygen" ? "No key name given" : command === "digest" ? "No file given" : "No policy file given";
      throw new CliError(what, EXIT.USAGE, `usage: ${HELP[command].split("\n")[0]!.replace(/^Usage: /, "")}`);
    }
    if (command === "run" && options.policy === undefined)
      throw new CliError("No policy given", EXIT.USAGE, "usage: bomfather run --policy FILE (try policies/demo.yaml)");
  }
  return { command, help, version, options, positionals };
}

/** A policy's bytes and the name its diagnostics carry ("-" is standard input). */
function readPolicy(file: string): { name: string; bytes: Uint8Array } {
  const name = file === "-" ? STDIN_NAME : file;
  try {
    return { name, bytes: readPolicyBytes(file) };
  } catch (e) {
    if (e instanceof ReadError) throw new CliError(e.message, EXIT.INVALID_POLICY, e.hint);
    throw e;
  }
}

async function cmdCheck(a: Args): Promise<number> {
  // The checker is loaded by the commands that use it: the others (shutdown, reload...) start without it.
  const { checkPolicy, formatDiagnosticsJson, formatReport, formatRuntimeProtection, formatVerdict, hasErrors } = await import("./policy/index.ts");
  const json = a.options.json === true;
  const all: Diagnostic[] = [];
  for (const file of a.positionals) {
    let name = file === "-" ? STDIN_NAME : file;
    let result: CheckResult;
    try {
      const read = readPolicy(file);
      name = read.name;
      result = checkPolicy(read.bytes, name);
      if (!json) process.stderr.write(formatReport(name, result.diagnostics, result.text) + (result.policy ? formatRuntimeProtection(name, result.policy) : ""));
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      // A file that cannot be read has no line to point at.
      const d: Diagnostic = { file: name, line: 1, col: 1, severity: "error", message: e.message, path: [] };
      if (e.hint) d.hint = e.hint;
      result = { policy: null, diagnostics: [d] };
      if (!json) process.stderr.write(`${name}: error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}\n${formatVerdict(name, result.diagnostics)}`);
    }
    all.push(...result.diagnostics);
  }
  if (json) process.stdout.write(formatDiagnosticsJson(all));
  return hasErrors(all) ? EXIT.INVALID_POLICY : EXIT.OK;
}

/** One line per file, "sha256:<hex> FILE" as fsverity-utils prints it; a file that cannot be read is reported and the others still printed. */
async function cmdDigest(a: Args): Promise<number> {
  const { DigestError, digestFile, digestStream } = await import("./digest.ts");
  let code: number = EXIT.OK;
  for (const file of a.positionals) {
    try {
      const digest = file === "-" ? await digestStream(Bun.stdin.stream()) : digestFile(file);
      process.stdout.write(`${digest} ${file}\n`);
    } catch (e) {
      if (!(e instanceof DigestError)) throw e;
      process.stderr.write(`bomfather: error: ${e.message}\nhint: ${e.hint}\n`);
      code = EXIT.REFUSED;
    }
  }
  return code;
}

/**
 * The modules that talk to the kernel, loaded only by the commands that need them: loading them
 * opens native libraries, which `check` has no use for.
 */
async function kernel() {
  return import("./kernel/doctor.ts");
}

async function cmdDoctor(a: Args): Promise<number> {
  const { canEnforce, formatChecks, runChecks } = await kernel();
  const checks = await runChecks();
  if (a.options.json === true)
    process.stdout.write(JSON.stringify({ version: pkg.version, abi: ABI_VERSION, canEnforce: canEnforce(checks), checks }, null, 2) + "\n");
  else process.stdout.write(`${VERSION}\n${formatChecks(checks)}\n`);
  return canEnforce(checks) ? EXIT.OK : EXIT.CANNOT_ENFORCE;
}

async function cmdRun(a: Args): Promise<number> {
  const given = a.options.policy as string;
  if (given === "-") {
    throw new CliError("The agent enforces a policy file, not standard input", EXIT.USAGE, "the agent guards its policy file and a signed reload replaces it: give its path");
  }
  const { name: file, bytes } = readPolicy(given);
  const { runAgent } = await import("./agent/run.ts");
  return runAgent(file, bytes);
}

/** The commands of src/control: stop or reload the running agent, sign, make keys. */
async function cmdControl(a: Args): Promise<number> {
  const control = await import("./control/commands.ts");
  const str = (name: string) => (typeof a.options[name] === "string" ? (a.options[name] as string) : undefined);
  const io = { stdout: process.stdout, stderr: process.stderr, readStdin: () => Bun.stdin.text() };
  switch (a.command) {
    case "shutdown":
      return control.shutdownCommand({ sign: str("sign"), challenge: a.options.challenge === true, response: str("response") }, io);
    case "reload":
      return control.reloadCommand({ policy: str("policy"), sign: str("sign"), challenge: a.options.challenge === true, response: str("response") }, io);
    case "sign":
      return control.signCommand({ key: str("key"), policy: str("policy"), input: a.positionals[0] }, io);
    default:
      return control.keygenCommand({ name: a.positionals[0] }, io);
  }
}

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (a.help) {
    process.stdout.write(HELP[a.command] + "\n");
    return EXIT.OK;
  }
  if (a.version || a.command === "version") {
    process.stdout.write(VERSION + "\n");
    return EXIT.OK;
  }
  switch (a.command) {
    case "check":
      return cmdCheck(a);
    case "digest":
      return cmdDigest(a);
    case "doctor":
      return cmdDoctor(a);
    case "run":
      return cmdRun(a);
    case "shutdown":
    case "reload":
    case "sign":
    case "keygen":
      return cmdControl(a);
    default:
      throw new Error(`Bug: no handler for command "${a.command}"`);
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
