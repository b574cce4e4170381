// The protocol the guest speaks on its results serial port (see initramfs.ts and lib.sh):
//
//   BFTEST-LOG-BEGIN <scenario>          written by /init before a scenario script runs
//   BFTEST <check> PASS|FAIL <detail>    written by the script, one line per check
//   BFTEST-EXIT <scenario> <status>      written by /init with the script's exit status
//   BFTEST-LOG-END <scenario>
//   BFTEST-DONE                          written by /init after the last scenario
//
// Everything between BEGIN and END is the scenario's log, shown on the host when a check fails.
// parseResults turns that text into one result per check plus one per scenario script; a run
// without BFTEST-DONE fails every result, reported or not: a crashed VM never passes silently.

import { serialLines } from "./vm.ts";

export interface CheckResult {
  ok: boolean;
  /** One line: what was checked and what happened. */
  detail: string;
  /** Output of the scenario script that reported it. */
  log: string;
}

export type Results = Map<string, CheckResult>;

export interface ParseOptions {
  /** Scenario names (script basenames) that /init was told to run, in order. */
  scenarios: string[];
  /** Check names the caller expects; any not reported fails. */
  expected?: string[];
  /** Why the VM stopped, when it did not stop normally (timeout, qemu error); added to failures. */
  vmProblem?: string;
  /** The end of the kernel console, added to the log of failures caused by a VM that ended early. */
  consoleTail?: string;
  /** Where the whole kernel console of this boot is kept; named in the log of every failure. */
  consoleLog?: string;
}

const RESULT_LINE = /^BFTEST (\S+) (PASS|FAIL)(?: (.*))?$/;
const INIT_MARKER = /BFTEST-(?:LOG-BEGIN|LOG-END|EXIT|DONE)\b/;

interface ScriptState {
  log: string[];
  exitStatus?: number;
  checks: string[];
}

export function parseResults(text: string, options: ParseOptions): Results {
  const scripts = new Map<string, ScriptState>();
  const checks = new Map<string, { ok: boolean; detail: string; script: string | undefined }>();
  let current: string | undefined;
  let done = false;

  for (const rawLine of serialLines(text)) {
    // A script whose last line lacks a newline leaves /init's next marker at the end of that line.
    let line = rawLine;
    const marker = line.search(INIT_MARKER);
    if (marker > 0) {
      if (current) scripts.get(current)!.log.push(line.slice(0, marker));
      line = line.slice(marker);
    }

    const words = line.split(" ");
    if (words[0] === "BFTEST-LOG-BEGIN" && words[1]) {
      current = words[1];
      scripts.set(current, { log: [], checks: [] });
    } else if (words[0] === "BFTEST-EXIT" && words[1] && scripts.has(words[1])) {
      scripts.get(words[1])!.exitStatus = Number(words[2]);
    } else if (words[0] === "BFTEST-LOG-END") {
      current = undefined;
    } else if (words[0] === "BFTEST-DONE") {
      done = true;
    } else {
      const result = line.match(RESULT_LINE);
      if (current) scripts.get(current)!.log.push(line);
      if (result) {
        const [, name, verdict, detail = ""] = result;
        const previous = checks.get(name!);
        // A check reported twice fails if either report failed.
        if (!previous || previous.ok) checks.set(name!, { ok: verdict === "PASS", detail, script: current });
        if (current) scripts.get(current)!.checks.push(name!);
      }
    }
  }

  const results: Results = new Map();
  for (const [name, check] of checks) {
    const log = check.script ? scripts.get(check.script)!.log.join("\n") : "";
    results.set(name, { ok: check.ok, detail: check.detail, log });
  }
  for (const name of options.scenarios) {
    const script = scripts.get(name);
    const summary = summarizeScript(name, script, results);
    const sameName = results.get(name);
    results.set(name, sameName && !sameName.ok ? sameName : summary);
  }
  for (const name of options.expected ?? []) {
    if (!results.has(name)) {
      results.set(name, { ok: false, detail: `check "${name}" was never reported by any scenario`, log: "" });
    }
  }

  if (options.consoleLog) {
    for (const [name, result] of results) {
      if (!result.ok) results.set(name, { ...result, log: `${result.log}\n(full guest console: ${options.consoleLog})` });
    }
  }
  if (!done || options.vmProblem) {
    const why = options.vmProblem ?? "the VM stopped before /init reported BFTEST-DONE";
    const consoleTail = options.consoleTail ? `\n--- end of the kernel console ---\n${options.consoleTail}` : "";
    for (const [name, result] of results) {
      results.set(name, {
        ok: false,
        detail: `${why}; the check itself said: ${result.ok ? "PASS" : "FAIL"} ${result.detail}`,
        log: result.log + consoleTail,
      });
    }
  }
  return results;
}

function summarizeScript(name: string, script: ScriptState | undefined, checks: Results): CheckResult {
  if (!script) return { ok: false, detail: `scenario "${name}" never started`, log: "" };
  const log = script.log.join("\n");
  if (script.exitStatus === undefined) return { ok: false, detail: `scenario "${name}" never finished`, log };
  if (script.exitStatus === 143) {
    return { ok: false, detail: `scenario "${name}" was killed by its timeout (status 143)`, log };
  }
  if (script.exitStatus !== 0) return { ok: false, detail: `scenario "${name}" exited with status ${script.exitStatus}`, log };
  if (script.checks.length === 0) return { ok: false, detail: `scenario "${name}" reported no checks`, log };
  const failed = [...new Set(script.checks)].filter((check) => !checks.get(check)?.ok);
  if (failed.length > 0) return { ok: false, detail: `scenario "${name}": failed checks ${failed.join(", ")}`, log };
  return { ok: true, detail: `scenario "${name}" ran ${new Set(script.checks).size} checks and exited with status 0`, log };
}

/** Text to show for a failed result: the detail, then the log of the scenario that reported it. */
export function describeFailure(name: string, result: CheckResult): string {
  const log = result.log.trim() ? `\n--- log ---\n${result.log.trimEnd()}\n--- end of log ---` : "";
  return `${name}: FAIL ${result.detail}${log}`;
}
