// bomfather's command line. One error boundary: expected failures print a message and a
// hint and exit with a stable code; anything else is a bug and prints its stack.
import { readFileSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { ABI_VERSION } from "./abi.ts";
import { decodeEvent } from "./events.ts";
import { LoadError, Enforcer } from "./kernel/agent.ts";
import { canEnforce, formatChecks, runChecks } from "./kernel/doctor.ts";
import { compile, type RuleInfo } from "./compile/compile.ts";
import { compileInputOf, hostFacts, pathsOf, problemsAsDiagnostics } from "./compile/from-policy.ts";
import { kernelInodes } from "./kernel/probe.ts";
import { checkPolicy, formatDiagnostics, formatDiagnosticsJson, localHost, unsupported, type Diagnostic } from "./policy/index.ts";

export const EXIT = { OK: 0, INVALID_POLICY: 1, USAGE: 2, CANNOT_ENFORCE: 3, BUG: 70 } as const;

/** An expected failure: printed as message + hint, exits with code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const HELP: Record<string, string> = {
  main: `bomfather ${pkg.version}: runtime protection enforced by BPF LSM programs

Usage:
  bomfather --policy FILE        enforce a policy (same as: bomfather run --policy FILE)
  bomfather run --policy FILE    enforce a policy; events are JSON lines on stdout
  bomfather check [--json] FILE...
                                 validate policies without touching the kernel
  bomfather doctor [--json]      can this host enforce? what to fix if not
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
  version: `Usage: bomfather version

Prints the version of bomfather and of its kernel ABI.`,
};

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

const FLAGS: Record<string, { takesValue: boolean; commands: string[] }> = {
  "--policy": { takesValue: true, commands: ["run"] },
  "--json": { takesValue: false, commands: ["check", "doctor"] },
  "--help": { takesValue: false, commands: ["main", "run", "check", "doctor", "version"] },
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

  // 1. The text: every problem at once, nothing reaches the kernel.
  const raw = readPolicy(file);
  const { policy, diagnostics } = checkPolicy(raw, file);
  if (!policy) {
    printDiagnostics(diagnostics, raw);
    return EXIT.INVALID_POLICY;
  }
  // 2. What this version cannot enforce is refused, never ignored.
  const refused = unsupported(policy, { pathKind: localHost.pathKind });
  if (refused.length) {
    printDiagnostics(refused, raw);
    process.stderr.write("bomfather: refusing to start: the policy asks for protection this version cannot give\n");
    return EXIT.INVALID_POLICY;
  }
  // 3. The host (the agent's programs are loaded for real in step 5).
  const checks = await runChecks({ agentLoad: false });
  if (!canEnforce(checks)) {
    process.stderr.write(formatChecks(checks.filter((c) => c.status !== "ok")) + "\n");
    return EXIT.CANNOT_ENFORCE;
  }
  // 4. Compile against this host's files, named as the kernel names them; 5. load all or nothing.
  const input = compileInputOf(policy);
  const inodes = await kernelInodes(pathsOf(input));
  const compiled = compile(input, (path, role) => hostFacts(path, role, (p) => inodes.get(p) ?? null));
  if (!compiled.ok) {
    printDiagnostics(problemsAsDiagnostics(compiled.problems), raw);
    return EXIT.INVALID_POLICY;
  }
  let enforcer: Enforcer;
  try {
    enforcer = await Enforcer.start(compiled.compiled);
  } catch (e) {
    if (e instanceof LoadError) {
      throw new CliError(`Cannot load the policy into the kernel: ${e.message}`, EXIT.CANNOT_ENFORCE, e.log.trim().split("\n").slice(-20).join("\n") || "run bomfather doctor");
    }
    throw e;
  }
  const { rules, entries } = compiled.compiled;
  process.stderr.write(`bomfather: enforcing ${file}: ${rules.length} rule(s), ${entries.length} kernel map entries\n`);
  await reportEvents(enforcer, rules);
  return EXIT.OK;
}

/**
 * Print the kernel's events as JSON lines until SIGINT or SIGTERM, then stop enforcing.
 * Events are reports: enforcement happens in the kernel whether or not they are read. The
 * kernel counts what went wrong on its side; new failures are reported once a second.
 */
async function reportEvents(enforcer: Enforcer, rules: readonly RuleInfo[]): Promise<void> {
  const status = safeWriter(process.stderr, () => {});
  const events = safeWriter(process.stdout, (why) =>
    status(`bomfather: warning: cannot write events to stdout (${why}); enforcement continues, events are no longer printed\n`),
  );
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // A closed terminal must not switch protection off (SIGHUP's default is to terminate).
  process.on("SIGHUP", () => status("bomfather: SIGHUP ignored: enforcement continues (stop with SIGTERM or SIGINT)\n"));
  const warnings = {
    eventsLost: "event(s) lost (ring buffer full); enforcement is unaffected",
    inheritanceFailures: "process(es) could not inherit a grant (out of memory); they were denied instead",
    protectionNotCarried: "file(s) renamed over a protected file could not be protected (too many protected files)",
  } as const;
  let seen = enforcer.counters();
  let lastCheck = Date.now();
  while (!stopping) {
    const lines = [];
    for (const rec of enforcer.poll(100)) {
      const ev = decodeEvent(rec, rules, enforcer.wallOffsetNs);
      if (ev) lines.push(JSON.stringify(ev) + "\n");
    }
    if (lines.length) events(lines.join(""));
    if (Date.now() - lastCheck >= 1000) {
      lastCheck = Date.now();
      const now = enforcer.counters();
      for (const [key, text] of Object.entries(warnings) as [keyof typeof warnings, string][]) {
        if (now[key] > seen[key]) status(`bomfather: warning: ${now[key] - seen[key]} ${text}\n`);
      }
      seen = now;
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  const c = enforcer.counters();
  enforcer.stop();
  status(
    `bomfather: stopped: ${c.denied} denied, ${c.audited} audited, ${c.eventsLost} event(s) lost, ` +
      `${c.inheritanceFailures} inheritance failure(s), ${c.protectionNotCarried} protection(s) not carried\n`,
  );
}

/**
 * A write that never throws: when the reader of a stream goes away (EPIPE), the agent says so
 * once through onBroken and goes on enforcing; losing its audience must not stop it.
 */
function safeWriter(stream: NodeJS.WriteStream, onBroken: (why: string) => void): (text: string) => void {
  let broken = false;
  const breaks = (e: unknown) => {
    if (broken) return;
    broken = true;
    onBroken((e as NodeJS.ErrnoException)?.code ?? String(e));
  };
  stream.on("error", breaks);
  return (text) => {
    if (broken) return;
    try {
      stream.write(text);
    } catch (e) {
      breaks(e);
    }
  };
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
