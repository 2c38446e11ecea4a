import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provision } from '../../../../libs/protocol/src';
import { runCli } from '../main';

/** `phcc-fed agent` input checks: every bad option is a clear exit-2 error before connecting. */
async function cli(...args: string[]): Promise<{ stderr: string; code: number }> {
  const err: string[] = [];
  const so = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
  process.exitCode = 0;
  try {
    await runCli(['node', 'phcc-fed', '--log-level', 'silent', 'agent', ...args]);
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { stderr: err.join(''), code };
}

describe('phcc-fed agent (inputs)', () => {
  let root: string;
  let kit: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'phcc-agent-args-'));
    provision({ outDir: join(root, 'keys'), coordinatorUrl: 'http://127.0.0.1:1', siteIds: ['site-a'] });
    kit = join(root, 'keys', 'sites', 'site-a');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each([
    [['--kit', 'KIT', '--cohort', 'nowhere'], /nowhere/],
    [['--kit', 'KIT', '--cohort', '.', '--keep-local', '('], /--keep-local/],
    [['--kit', 'KIT', '--cohort', '.', '--max-task-mb', '-1'], /--max-task-mb/],
    [['--kit', 'KIT', '--cohort', '.', '--tiny', '--model-config', 'x.json'], /mutually exclusive/],
    [['--kit', 'KIT', '--cohort', '.', '--model-config', 'missing.json'], /missing\.json: no such file/],
    [
      ['--kit', 'KIT', '--cohort', '.', '--dp-sgd-clip', '1'],
      /--dp-sgd-clip and --dp-sgd-noise come together/,
    ],
    [['--kit', 'KIT', '--cohort', '.', '--dp-sgd-clip', '0', '--dp-sgd-noise', '1'], /--dp-sgd-clip must be/],
    [
      ['--kit', 'KIT', '--cohort', '.', '--dp-sgd-clip', '1', '--dp-sgd-noise', 'x'],
      /--dp-sgd-noise must be/,
    ],
    [
      ['--kit', 'KIT', '--cohort', '.', '--dp-sgd-clip', '1', '--dp-sgd-noise', '1', '--dp-sgd-delta', '1'],
      /--dp-sgd-delta must be in \(0, 1\)/,
    ],
  ])('%j is refused with exit code 2', async (args, message) => {
    const r = await cli(...args.map((a) => (a === 'KIT' ? kit : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('refuses a folder that is not a site kit', async () => {
    const r = await cli('--kit', root, '--cohort', '.');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kit/);
  });
});
