import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelMetadata } from '../../../../libs/model/src/io/checkpoint';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

const cli = (...args: string[]) => runCliCaptured(['--backend', 'wasm', ...args]);

jest.setTimeout(120_000);

describe('train --phases on a four-phase extracellular-agent site', () => {
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'phcc-train-phases-'));
    const synth = await cli(
      'synth',
      ...['--out', join(root, 'cohort'), '--sites', '1', '--patients', '10', '--seed', '4'],
      ...['--scale', '0.25', '--threads', '0', '--agent', 'extracellular'],
    );
    expect(synth.code).toBe(0);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses the six-phase default with both counts, then trains a 4-phase model that carries its phases', async () => {
    const site = join(root, 'cohort', 'site-a');
    const six = await cli(
      'train',
      '--cohort',
      site,
      '--out',
      join(root, 'm6'),
      '--tiny',
      '--stage',
      'ssl',
      '--epochs',
      '1',
    );
    expect(six.code).toBe(2);
    expect(six.stderr).toMatch(
      /the model takes 6 phases but the cohort's DCEs have 4 \(10 of 10 rows\); train a model with --phases 4/,
    );

    const out = join(root, 'm4');
    const four = await cli(
      'train',
      '--cohort',
      site,
      '--out',
      out,
      '--tiny',
      '--phases',
      '4',
      '--stage',
      'ssl',
      '--epochs',
      '1',
      '--json',
    );
    expect(four.code).toBe(0);
    expect(lastJsonLine<{ model: string }>(four.stdout).model).toBe(out);
    expect(readModelMetadata(out).config).toMatchObject({
      phases: 4,
      phaseNames: ['pre', 'arterial', 'portal_venous', 'delayed'],
      phaseTimes: [0, 35, 70, 180],
    });
  });
});
