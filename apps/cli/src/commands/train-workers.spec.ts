import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

const cli = (...args: string[]) => runCliCaptured(['--backend', 'wasm', ...args]);

jest.setTimeout(90_000);

interface TrainJson {
  workers: number;
  stages: { stage: string; epochLosses: number[] }[];
}

describe('phcc-fed train --workers', () => {
  let root: string;
  let site: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'phcc-train-workers-'));
    const synth = await cli(
      'synth',
      ...['--out', join(root, 'cohort'), '--sites', '1', '--patients', '12', '--seed', '3'],
      ...['--scale', '0.25', '--threads', '0'],
    );
    expect(synth.code).toBe(0);
    site = join(root, 'cohort', 'site-a');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('trains both stages over 2 replicas with the same losses as one process', async () => {
    const train = (workers: string, out: string) =>
      cli(
        'train',
        '--cohort',
        site,
        '--out',
        join(root, out),
        '--tiny',
        '--epochs',
        '1',
        '--workers',
        workers,
        '--json',
      );
    const one = await train('1', 'one');
    const two = await train('2', 'two');
    expect(two.stderr).toBe('');
    expect(two.code).toBe(0);
    const a = lastJsonLine<TrainJson>(one.stdout);
    const b = lastJsonLine<TrainJson>(two.stdout);
    expect([a.workers, b.workers]).toEqual([1, 2]);
    expect(b.stages.map((s) => s.stage)).toEqual(['ssl', 'finetune']);
    b.stages.forEach((stage, i) => {
      expect(stage.epochLosses).toHaveLength(a.stages[i].epochLosses.length);
      stage.epochLosses.forEach((loss, j) => expect(loss).toBeCloseTo(a.stages[i].epochLosses[j], 4));
    });
  });

  it('repeats a --seed bit for bit with --balance equal', async () => {
    const run = (out: string) =>
      cli(
        'train',
        ...['--cohort', site, '--out', join(root, out), '--tiny', '--epochs', '1'],
        ...['--workers', '2', '--balance', 'equal', '--seed', '5', '--json'],
      );
    const first = lastJsonLine<TrainJson>((await run('eq1')).stdout);
    const second = lastJsonLine<TrainJson>((await run('eq2')).stdout);
    expect(second.stages.map((s) => s.epochLosses)).toEqual(first.stages.map((s) => s.epochLosses));
  });

  it('refuses an unknown --balance', async () => {
    const r = await cli('train', '--cohort', site, '--out', join(root, 'y'), '--tiny', '--balance', 'fair');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--balance must be speed or equal (got "fair")');
  });

  it('refuses a worker count that is not a positive integer or auto', async () => {
    for (const bad of ['0', 'two', '1.5']) {
      const r = await cli('train', '--cohort', site, '--out', join(root, 'x'), '--tiny', '--workers', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--workers must be a positive integer or auto (got "${bad}")`);
    }
  });
});
