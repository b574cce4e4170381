// The guest-to-host protocol parser on canned serial output: no VM needed.

import { describe, expect, test } from "bun:test";
import { parseResults } from "./protocol.ts";

const lines = (...text: string[]) => text.join("\n") + "\n";

describe("parseResults", () => {
  test("reads PASS and FAIL checks, the script summaries and each scenario's log", () => {
    const text = lines(
      "BFTEST-LOG-BEGIN alpha",
      "some output",
      "BFTEST alpha-one PASS all good",
      "BFTEST-EXIT alpha 0",
      "BFTEST-LOG-END alpha",
      "BFTEST-LOG-BEGIN beta",
      "BFTEST beta-one FAIL expected \"x\", got \"y\"",
      "BFTEST beta-two PASS",
      "BFTEST-EXIT beta 0",
      "BFTEST-LOG-END beta",
      "BFTEST-DONE",
    );
    const results = parseResults(text, { scenarios: ["alpha", "beta"] });

    expect(results.get("alpha-one")).toEqual({ ok: true, detail: "all good", log: "some output\nBFTEST alpha-one PASS all good" });
    expect(results.get("beta-one")?.ok).toBe(false);
    expect(results.get("beta-one")?.detail).toBe('expected "x", got "y"');
    expect(results.get("beta-one")?.log).toContain("BFTEST beta-two PASS");
    expect(results.get("beta-two")).toMatchObject({ ok: true, detail: "" });
    expect(results.get("alpha")?.ok).toBe(true);
    expect(results.get("beta")).toMatchObject({ ok: false, detail: 'scenario "beta": failed checks beta-one' });
  });

  test("a run without BFTEST-DONE fails every check, even those that passed", () => {
    const text = lines("BFTEST-LOG-BEGIN alpha", "BFTEST alpha-one PASS fine", "BFTEST-EXIT alpha 0", "BFTEST-LOG-END alpha");
    const results = parseResults(text, { scenarios: ["alpha", "beta"], consoleTail: "Kernel panic - not syncing" });

    for (const name of ["alpha-one", "alpha", "beta"]) expect(results.get(name)?.ok).toBe(false);
    expect(results.get("alpha-one")?.detail).toBe(
      "the VM stopped before /init reported BFTEST-DONE; the check itself said: PASS fine",
    );
    expect(results.get("alpha-one")?.log).toContain("Kernel panic - not syncing");
    expect(results.get("beta")?.detail).toContain('scenario "beta" never started');
  });

  test("a VM problem (timeout, qemu error) fails everything even after BFTEST-DONE", () => {
    const text = lines("BFTEST-LOG-BEGIN alpha", "BFTEST alpha-one PASS", "BFTEST-EXIT alpha 0", "BFTEST-LOG-END alpha", "BFTEST-DONE");
    const results = parseResults(text, { scenarios: ["alpha"], vmProblem: "qemu-system-x86_64 exited with status 1" });
    expect(results.get("alpha-one")?.ok).toBe(false);
    expect(results.get("alpha-one")?.detail).toStartWith("qemu-system-x86_64 exited with status 1;");
  });

  test("an expected check that nobody reported fails", () => {
    const text = lines("BFTEST-LOG-BEGIN alpha", "BFTEST alpha-one PASS", "BFTEST-EXIT alpha 0", "BFTEST-LOG-END alpha", "BFTEST-DONE");
    const results = parseResults(text, { scenarios: ["alpha"], expected: ["alpha-one", "alpha-two"] });
    expect(results.get("alpha-one")?.ok).toBe(true);
    expect(results.get("alpha-two")).toEqual({ ok: false, detail: 'check "alpha-two" was never reported by any scenario', log: "" });
  });

  test("a script that exits non-zero, times out or reports nothing fails", () => {
    const text = lines(
      "BFTEST-LOG-BEGIN crashes",
      "BFTEST crashes-one PASS",
      "BFTEST-EXIT crashes 2",
      "BFTEST-LOG-END crashes",
      "BFTEST-LOG-BEGIN hangs",
      "BFTEST-EXIT hangs 143",
      "BFTEST-LOG-END hangs",
      "BFTEST-LOG-BEGIN silent",
      "BFTEST-EXIT silent 0",
      "BFTEST-LOG-END silent",
      "BFTEST-DONE",
    );
    const results = parseResults(text, { scenarios: ["crashes", "hangs", "silent"] });
    expect(results.get("crashes")?.detail).toBe('scenario "crashes" exited with status 2');
    expect(results.get("hangs")?.detail).toBe('scenario "hangs" was killed by its timeout (status 143)');
    expect(results.get("silent")?.detail).toBe('scenario "silent" reported no checks');
    expect(results.get("crashes-one")?.ok).toBe(true);
  });

  test("a check reported twice fails if either report failed", () => {
    const text = lines(
      "BFTEST-LOG-BEGIN alpha",
      "BFTEST again FAIL first",
      "BFTEST again PASS second",
      "BFTEST-EXIT alpha 0",
      "BFTEST-LOG-END alpha",
      "BFTEST-DONE",
    );
    expect(parseResults(text, { scenarios: ["alpha"] }).get("again")).toMatchObject({ ok: false, detail: "first" });
  });

  test("copes with CRLF line ends and a last line without a newline before /init's marker", () => {
    const text = [
      "BFTEST-LOG-BEGIN alpha\r",
      "BFTEST alpha-one PASS ok\r",
      "no newline at the endBFTEST-EXIT alpha 0\r",
      "BFTEST-LOG-END alpha\r",
      "BFTEST-DONE\r",
    ].join("\n");
    const results = parseResults(text, { scenarios: ["alpha"] });
    expect(results.get("alpha-one")).toMatchObject({ ok: true, detail: "ok" });
    expect(results.get("alpha")?.ok).toBe(true);
    expect(results.get("alpha-one")?.log).toBe("BFTEST alpha-one PASS ok\nno newline at the end");
  });

  test("a line that merely mentions BFTEST is log, not a result", () => {
    const text = lines(
      "BFTEST-LOG-BEGIN alpha",
      "echo BFTEST fake PASS",
      "BFTEST alpha-one PASS",
      "BFTEST-EXIT alpha 0",
      "BFTEST-LOG-END alpha",
      "BFTEST-DONE",
    );
    const results = parseResults(text, { scenarios: ["alpha"] });
    expect(results.has("fake")).toBe(false);
  });
});
