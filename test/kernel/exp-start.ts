// bun test/kernel/exp-start.ts VARIANTS SERIES [pipe]
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { largePolicy } from "./bench/tools.ts";
import { runScenariosWithDetails } from "./harness.ts";
import { makeTestKey, TEST_KEY_GUEST } from "./keys.ts";
const series = (process.argv[3] ?? "6.1") as "6.1";
const variants = process.argv[2]!.split(",");
const dir = mkdtempSync(join(tmpdir(), "exp-"));
const key = await makeTestKey(dir);
writeFileSync(join(dir, "files.yaml"), largePolicy(10000, key));
writeFileSync(join(dir, "one.yaml"), largePolicy(0, key));
writeFileSync(join(dir, "variants"), variants.join(" ") + "\n");
const pipe = readdirSync("/tmp/prof/out").map((f) => ({ host: `/tmp/prof/out/${f}`, guest: `/opt/exp/out/${f}` }));
const r = await runScenariosWithDetails({
  icount: true, series, scenarios: ["/tmp/exp/startexp.sh"], timeoutMs: 3_000_000, scenarioTimeoutSeconds: 3000, expected: ["exp-done"],
  files: [
    { host: key.privateKey, guest: TEST_KEY_GUEST, mode: 0o600 },
    { host: "/bin/cat", guest: "/usr/local/bin/trusted-reader" },
    { host: join(dir, "files.yaml"), guest: "/opt/bench/files.yaml" },
    { host: join(dir, "one.yaml"), guest: "/opt/bench/one.yaml" },
    { host: join(dir, "variants"), guest: "/opt/exp/variants" },
    ...pipe,
    ...[...new Set(variants.map((v) => v.split(":")[0]))].map((v) => ({ host: `/tmp/exp/bins/bf${v}`, guest: `/opt/exp/bf${v}` })),
  ],
});
const log = r.results.get("startexp")?.log ?? "";
for (const [k, v] of r.results) if (!v.ok) console.log("FAIL", k, v.detail);
if ([...r.results.values()].some((v) => !v.ok)) console.log(log);
for (const line of log.split("\n")) if (line.startsWith("RES ") || line.startsWith("PIPE ") || line.startsWith("PROF ")) console.log(line);
