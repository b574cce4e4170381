// `./dev demo`: boots Debian's kernel in a VM and shows the agent enforcing policies/demo.yaml.
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { runScenariosWithDetails } from "./harness.ts";
import { keyedPolicies, makeTestKey } from "./keys.ts";
import type { KernelSeries } from "./kernels.ts";

const root = join(import.meta.dir, "..", "..");
const series = (process.argv[2] ?? "6.12") as KernelSeries;
if (series !== "6.1" && series !== "6.12") {
  console.error(`usage: ./dev demo [6.1|6.12]`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "bomfather-demo-"));
const key = await makeTestKey(dir);
const r = await runScenariosWithDetails({
  series,
  scenarios: [join(import.meta.dir, "demo", "demo.sh")],
  files: [
    { host: join(root, "dist", "bomfather"), guest: "/usr/local/sbin/bomfather" },
    ...keyedPolicies(dir, key, [{ host: join(root, "policies", "demo.yaml"), guest: "/policies/demo.yaml" }]),
    { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
  ],
  expected: ["demo"],
});
const demo = r.results.get("demo");
console.log(
  (demo?.log ?? "")
    .split("\n")
    .filter((l) => !l.startsWith("BFTEST"))
    .join("\n"),
);
console.log(`\n(Debian ${r.kernel.package} ${r.kernel.version}, VM run ${(r.timings.vmMs / 1000).toFixed(1)} s)`);
process.exit(demo?.ok ? 0 : 1);
