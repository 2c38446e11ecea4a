import { Command } from 'commander';
import { InputError } from '../../../../libs/common/src';
import type { BenchFigures } from '../bench/suite';
import { BENCH_SUITES } from '../bench/suites';
import { commandLogger, globalOptions } from '../context';

/** `phcc-fed bench [suite…]`: run benchmark suites and print their figures (and a JSON last line). */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .summary('measure training speed, metrics, imaging and protocol throughput on this machine')
    .description(
      'Runs benchmark suites and prints their figures, each as a ratio against a baseline measured\n' +
        'in the same run. Suites: ' +
        (BENCH_SUITES.map((s) => `${s.name} (${s.description})`).join('; ') || 'none yet') +
        '.\nWith no suite named, runs them all.',
    )
    .argument('[suites...]', 'which suites to run (default: all)')
    .option('--json', 'end the output with one JSON line holding every figure')
    .option('--quick', 'fewer repetitions (a smoke run, less precise)')
    .option(
      '--peer [python]',
      'bench model / bench train: our steps against the PyTorch re-implementation (bench/peers/phcc_ssl.py, ' +
        'reference_cnn.py), interleaved; needs a Python with torch (Debian: python3-torch)',
    )
    .action(
      async (
        names: string[],
        opts: { json?: boolean; quick?: boolean; peer?: string | boolean },
        cmd: Command,
      ) => {
        const known = new Map(BENCH_SUITES.map((s) => [s.name, s]));
        const unknown = names.filter((n) => !known.has(n));
        if (unknown.length) {
          throw new InputError(
            `unknown bench suite "${unknown.join('", "')}"; available: ${[...known.keys()].join(', ') || 'none'}`,
          );
        }
        const entries = names.length ? names.map((n) => known.get(n)!) : BENCH_SUITES;
        const log = commandLogger(cmd);
        const figures: BenchFigures = {};
        for (const entry of entries) {
          process.stdout.write(`\n== bench ${entry.name}: ${entry.description}\n`);
          const suite = await entry.load();
          Object.assign(
            figures,
            await suite.run({
              log,
              print: (line) => process.stdout.write(line + '\n'),
              backend: globalOptions(cmd).backend,
              quick: Boolean(opts.quick),
              peer: opts.peer,
            }),
          );
        }
        if (opts.json) process.stdout.write(JSON.stringify(figures) + '\n');
      },
    );
}
