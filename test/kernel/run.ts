// Runs a host command and returns its output; a failure names the command, its exit status and stderr.

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
}

/** Runs argv and resolves with its result whatever the exit status. */
export async function runAllowingFailure(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  let child;
  try {
    child = Bun.spawn(argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (error) {
    throw new Error(`Cannot run "${argv[0]}": ${(error as Error).message}`);
  }
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { status, stdout, stderr };
}

/** Runs argv and resolves with its stdout; rejects when it exits non-zero. */
export async function run(argv: string[], options: RunOptions = {}): Promise<string> {
  const result = await runAllowingFailure(argv, options);
  if (result.status !== 0) {
    const stderr = result.stderr.trim() || result.stdout.trim();
    throw new Error(`Command failed with status ${result.status}: ${formatCommand(argv)}\n${lastLines(stderr, 20)}`);
  }
  return result.stdout;
}

export function formatCommand(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`)).join(" ");
}

export function lastLines(text: string, count: number): string {
  return text.split("\n").slice(-count).join("\n");
}
