import { buildProgram } from './program';
import { runCli } from './main';

describe('phcc-fed CLI', () => {
  const subcommands = (): string[] => buildProgram().commands.map((c) => c.name());

  it('lists every subcommand of the design (DESIGN.md §7)', () => {
    for (const name of [
      'coordinator',
      'agent',
      'demo',
      'synth',
      'inspect',
      'convert',
      'cohort',
      'train',
      'evaluate',
      'predict',
      'roc',
      'provision',
      'bench',
    ]) {
      expect(subcommands()).toContain(name);
    }
  });

  it('rejects an unknown bench suite with exit code 2 and names it', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = 0;
    await runCli(['node', 'phcc-fed', 'bench', 'no-such-suite']);
    expect(process.exitCode).toBe(2);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('no-such-suite');
    stderr.mockRestore();
    process.exitCode = 0;
  });

  it('rejects an unknown backend with exit code 2', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = 0;
    await runCli(['node', 'phcc-fed', '--backend', 'gpu', 'bench']);
    expect(process.exitCode).toBe(2);
    stderr.mockRestore();
    process.exitCode = 0;
  });
});
