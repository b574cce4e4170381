// `./dev test`: the unit suite, then the kernel suite, each through `bun test`; prints the
// totals as its last line ("N passed, M failed") and exits non-zero on any failure or when
// a suite ran no test at all. The kernel suite never skips: no VM means failures.
export {};

const bun = process.execPath;

interface Suite {
  name: string;
  args: string[];
}

const suites: Suite[] = [
  { name: "unit", args: ["test", "--timeout", "60000", "test/unit", "test/policy"] },
  // bunfig.toml keeps test/kernel out of plain `bun test`; this pattern replaces its own.
  { name: "kernel", args: ["test", "--timeout", "900000", "--path-ignore-patterns=node_modules/**", "test/kernel"] },
];

const only = process.argv[2];
let passed = 0;
let failed = 0;
const problems: string[] = [];

for (const suite of suites) {
  if (only && only !== suite.name) continue;
  console.error(`\n=== ${suite.name} suite: bun ${suite.args.join(" ")}`);
  const p = Bun.spawn([bun, ...suite.args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      const s = dec.decode(chunk, { stream: true });
      text += s;
      out.write(s);
    }
  };
  await Promise.all([pump(p.stdout, process.stdout), pump(p.stderr, process.stderr)]);
  const code = await p.exited;
  const pass = Number(text.match(/^\s*(\d+) pass$/m)?.[1] ?? 0);
  const fail = Number(text.match(/^\s*(\d+) fail$/m)?.[1] ?? 0);
  passed += pass;
  failed += fail;
  if (pass + fail === 0) problems.push(`${suite.name} suite ran no test (exit ${code})`);
  else if (code !== 0 && fail === 0) problems.push(`${suite.name} suite exited ${code} with no failed test reported`);
}

for (const p of problems) console.error(`error: ${p}`);
if (problems.length) failed += problems.length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
