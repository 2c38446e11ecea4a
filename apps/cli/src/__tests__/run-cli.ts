import { runCli } from '../main';

export interface CliRun {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs `phcc-fed ARGS…` in-process and captures stdout, stderr and the exit code, so CLI tests
 * exercise the real command tree and error handling without spawning a process per case.
 * Logs are silenced unless a level is given.
 */
export async function runCliCaptured(args: string[], logLevel: string | null = 'silent'): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
  process.exitCode = 0;
  try {
    await runCli(['node', 'phcc-fed', ...(logLevel ? ['--log-level', logLevel] : []), ...args]);
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stdout: out.join(''), stderr: err.join(''), code };
}

/** The `--json` contract: the last stdout line is one JSON object. */
export function lastJsonLine<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}
