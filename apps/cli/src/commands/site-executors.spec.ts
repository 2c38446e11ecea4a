import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, silentLog } from '../../../../libs/common/src';
import { modelConfig, parsePhaseSpec, TINY_MODEL } from '../../../../libs/model/src/network/config';
import { runCliCaptured } from '../__tests__/run-cli';
import { loadSiteExecutors } from './site-executors';

jest.setTimeout(120_000);

/** A site checks its cohort's phase times against the model's protocol before it joins a run. */
describe('loadSiteExecutors: the cohort against the model’s phases', () => {
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'phcc-site-phases-'));
    const synth = await runCliCaptured([
      'synth',
      ...['--out', join(root, 'cohort'), '--sites', '1', '--patients', '6', '--seed', '5'],
      ...['--scale', '0.25', '--threads', '0', '--agent', 'extracellular'],
    ]);
    expect(synth.code).toBe(0);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const load = (phases: string) =>
    loadSiteExecutors(
      join(root, 'cohort', 'site-a'),
      modelConfig({ ...TINY_MODEL, ...parsePhaseSpec(phases) }),
      join(root, 'state'),
      silentLog,
      () => undefined,
    );

  it('joins with the protocol its DCEs follow', async () => {
    const { counts } = await load('extracellular-4');
    expect(counts.train + counts.val + counts.test).toBe(6);
  });

  it('refuses, with PHASE_MISMATCH, a model whose last phase is hepatobiliary', async () => {
    const error = await load('pre:0,arterial:35,portal_venous:70,hepatobiliary:1200').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe('PHASE_MISMATCH');
    expect((error as Error).message).toMatch(
      /phase times do not match the model's protocol .*: hepatobiliary at \d+(\.\d+)? s \(the model's is 1200 s ± 600\)$/,
    );
  });
});
