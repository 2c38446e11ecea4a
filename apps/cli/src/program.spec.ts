import { Command } from 'commander';
import { backendOptions } from './context';
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

  it('reads --wasm-threads (or PHCC_WASM_THREADS) for initBackend, and rejects a bad count naming the option', async () => {
    const optionsFor = async (...argv: string[]) => {
      const program = buildProgram();
      let read: (() => ReturnType<typeof backendOptions>) | undefined;
      program.command('probe').action((_opts, cmd: Command) => {
        read = () => backendOptions(cmd);
      });
      await program.parseAsync(['node', 'phcc-fed', ...argv, 'probe']);
      return read!;
    };
    expect((await optionsFor('--wasm-threads', '2'))().threads).toBe(2);
    expect((await optionsFor())().threads).toBeUndefined();
    await expect(optionsFor('--wasm-threads', '0').then((read) => read())).rejects.toThrow('(got "0")');
    await expect(optionsFor('--wasm-threads', 'two').then((read) => read())).rejects.toThrow(
      '--wasm-threads must be a whole number from 1 to 64 (got "two")',
    );
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
