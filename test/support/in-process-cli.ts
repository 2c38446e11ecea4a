import { runCli } from '../../apps/cli/src/main';

/**
 * Runs `phcc-fed ARGS…` in this process (silent logs, wasm backend) and returns its stdout, stderr
 * (kept, not shown) and exit code. For e2e suites that drive the CLI without a child process.
 */
export async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (lines.push(String(c)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (errors.push(String(c)), true));
  process.exitCode = 0;
  try {
    await runCli(['node', 'phcc-fed', '--log-level', 'silent', '--backend', 'wasm', ...args]);
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  // A refusal the test expects (exit 2) must not become the test runner's own exit code.
  process.exitCode = 0;
  return { stdout: lines.join(''), stderr: errors.join(''), code };
}
