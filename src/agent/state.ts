// What the agent keeps beside its pins, in RUN_DIR (/run/bomfather, a tmpfs: gone at reboot like
// the pins themselves):
//   lock                 held (flock) by the running agent: one agent at a time
//   state.json           the policy in force: its file, its SHA-256, its generation, the run that applied it
//   generation-<n>.json  the rule table of generation n (rule id -> policy file:line and path), so that
//                        an event decided by an earlier generation, or by an earlier run, still names
//                        its policy line
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tryLockExclusive } from "../../ffi/libc.ts";
import type { RuleInfo } from "../compile/compile.ts";

export const RUN_DIR = "/run/bomfather";
const GENERATIONS_KEPT = 8;

/** The policy the kernel enforces, as the run that applied it recorded it. */
export interface InForce {
  policyFile: string;
  policySha256: string;
  generation: number;
  runId: string;
  pid: number;
  appliedAt: string;
}

/** A rule of a generation, as events need it (no inode: rules are looked up by id). */
export interface RuleRecord {
  id: number;
  path: string;
  file: string;
  line: number;
  builtin?: string;
}

export class AgentState {
  private constructor(
    readonly dir: string,
    private readonly lockFd: number,
  ) {}

  /**
   * Take the agent lock in dir. Null when another agent holds it (it runs: its pid is in
   * state.json, if it got that far).
   */
  static lock(dir = RUN_DIR): AgentState | null {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(join(dir, "lock"), "a+", 0o600);
    if (!tryLockExclusive(fd)) {
      closeSync(fd);
      return null;
    }
    return new AgentState(dir, fd);
  }

  /** What state.json says, read without the lock (for messages about another agent). */
  static peek(dir = RUN_DIR): InForce | null {
    return readJson<InForce>(join(dir, "state.json"));
  }

  /** The policy in force according to the last run that applied one; null when none did. */
  inForce(): InForce | null {
    return readJson<InForce>(join(this.dir, "state.json"));
  }

  /**
   * The policy in force, with its generation's rule table first when `rules` are given. A reload
   * writes the table once idle (src/agent/serve.ts recordRules): until then, the agent names
   * that generation's events from memory.
   */
  recordInForce(state: InForce, rules?: readonly RuleInfo[]): void {
    if (rules) this.recordRules(state.generation, state.policyFile, rules);
    writeJson(join(this.dir, "state.json"), state);
  }

  /** The rule table of a generation, for events named after it has left the agent's memory (or by a later run). */
  recordRules(generation: number, policyFile: string, rules: readonly RuleInfo[]): void {
    const table: RuleRecord[] = rules.map((r) => ({ id: r.id, path: r.path, file: r.origin.file, line: r.origin.line, builtin: r.builtin }));
    // One line: a table of tens of thousands of rules is written at every reload, and JSON's
    // indented form takes ten times as long to make.
    writeJson(generationFile(this.dir, generation), { generation, policyFile, rules: table }, false);
    const kept = readdirSync(this.dir)
      .map((f) => Number(f.match(/^generation-(\d+)\.json$/)?.[1]))
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => b - a);
    for (const n of kept.slice(GENERATIONS_KEPT)) rmSync(generationFile(this.dir, n), { force: true });
  }

  /** The rule table of a generation, when this host still has it. */
  rules(generation: number): RuleRecord[] | null {
    return readJson<{ rules: RuleRecord[] }>(generationFile(this.dir, generation))?.rules ?? null;
  }

  /** After a shutdown: no policy is in force. */
  forget(): void {
    for (const f of readdirSync(this.dir)) if (f === "state.json" || /^generation-\d+\.json$/.test(f)) rmSync(join(this.dir, f), { force: true });
  }

  release(): void {
    closeSync(this.lockFd);
  }
}

function generationFile(dir: string, generation: number): string {
  return join(dir, `generation-${generation}.json`);
}

function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return null; // a torn or foreign file says nothing about what is in force
  }
}

function writeJson(path: string, value: unknown, indented = true): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, (indented ? JSON.stringify(value, null, 2) : JSON.stringify(value)) + "\n", { mode: 0o600 });
  renameSync(tmp, path);
}
