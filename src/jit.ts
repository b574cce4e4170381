// JavaScriptCore compiles a function that runs often in up to three tiers (baseline, DFG, FTL).
// The last, FTL, makes the fastest code and costs the most to compile: it pays off for code that
// runs for a long time. Start and reload run each function of the policy pipeline (reading,
// checking and compiling a policy) some thousands of times, once; there the FTL compiles cost
// more than they save. Measured under counted time (one guest instruction, one ns) on the 10,000
// file rules of `./dev bench`: checking them took 1.10 s with the FTL tier and 0.71 s without it.
// These functions stay in the lower tiers; everything else is compiled as usual.
import * as jsc from "bun:jsc";

/**
 * Keeps each function (every method of a prototype given) out of the FTL tier. Only a hint to the
 * engine: a Bun without it runs the same code, at the cost measured above.
 */
export function startupCode(...code: (Function | object)[]): void {
  const noFTL = (jsc as unknown as { noFTL?: (f: Function) => void }).noFTL;
  if (typeof noFTL !== "function") return;
  for (const c of code) {
    if (typeof c === "function") noFTL(c);
    else {
      for (const name of Object.getOwnPropertyNames(c)) {
        const m = Object.getOwnPropertyDescriptor(c, name)?.value;
        if (typeof m === "function" && name !== "constructor") noFTL(m);
      }
    }
  }
}
