import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, silentLog } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { RdpAccountant } from '../../../../libs/federated/src/privacy/dp/rdp-accountant';
import { TINY } from '../../../../libs/model/src/__tests__/tiny-config';
import { modelConfig, PhccModel } from '../../../../libs/model/src/network';
import { constructedCohort, isFinetunePatient, PatientSample } from '../../../../libs/model/src/training';
import { TaskBody } from '../../../../libs/protocol/src';
import { sampleBody } from '../../../../libs/protocol/src/test-support/fixtures';
import { FinetuneExecutor } from './model-executors';
import { RecordPrivacyLedger } from './record-privacy';

const config = modelConfig(TINY);
const trained = { clip: 1, noiseMultiplier: 1.1, batchSize: 8, trainPatients: 100, clippedShare: 0.5 };
const epsilonOf = (steps: number, delta: number) =>
  new RdpAccountant().compose({ noiseMultiplier: 1.1, sampleRate: 0.08, steps }).spent(delta).epsilon;

describe('RecordPrivacyLedger (record-level ε per run)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'dp-sgd-ledger-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('composes every released task of a run, with q = batch / training patients', () => {
    const ledger = new RecordPrivacyLedger({ clip: 1, noiseMultiplier: 1.1, delta: 1e-5 });
    const first = ledger.spend('run-a', trained, 13);
    const second = ledger.spend('run-a', trained, 13);
    expect(first.sampleRate).toBeCloseTo(0.08, 12);
    expect(first.roundEpsilon).toBeCloseTo(epsilonOf(13, 1e-5), 10);
    expect(first.runEpsilon).toBeCloseTo(first.roundEpsilon, 10);
    expect(second.runEpsilon).toBeCloseTo(epsilonOf(26, 1e-5), 10);
    expect(second.runEpsilon).toBeGreaterThan(first.runEpsilon);
    // Another run starts from zero.
    expect(ledger.spend('run-b', trained, 13).runEpsilon).toBeCloseTo(first.runEpsilon, 10);
  });

  it('survives a restart when kept in the state folder', () => {
    new RecordPrivacyLedger({ clip: 1, noiseMultiplier: 1.1, delta: 1e-5, stateDir: dir }).spend(
      'r',
      trained,
      10,
    );
    const restarted = new RecordPrivacyLedger({ clip: 1, noiseMultiplier: 1.1, delta: 1e-5, stateDir: dir });
    expect(restarted.spend('r', trained, 10).runEpsilon).toBeCloseTo(epsilonOf(20, 1e-5), 10);
  });

  it('refuses a damaged ledger instead of restarting the count', () => {
    const ledger = new RecordPrivacyLedger({ clip: 1, noiseMultiplier: 1.1, delta: 1e-5, stateDir: dir });
    ledger.spend('r', trained, 10);
    const [file] = readdirSync(join(dir, 'dp-sgd'));
    writeFileSync(join(dir, 'dp-sgd', file), '{"runId": "r", "ste');
    expect(() => ledger.spend('r', trained, 10)).toThrow(/unreadable DP-SGD ledger/);
  });

  it('refuses a bad setting with a one-line error', () => {
    expect(() => new RecordPrivacyLedger({ clip: 1, noiseMultiplier: 1, delta: 0 })).toThrow(/delta/);
    expect(() => new RecordPrivacyLedger({ clip: -1, noiseMultiplier: 1, delta: 1e-5 })).toThrow(/clip/);
  });
});

describe('FinetuneExecutor with the site option dpSgd', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it("reports the run's record-level ε in the update's metrics, growing with each released task", async () => {
    const data: PatientSample[] = constructedCohort(config, { patients: 10, seed: 3 }).map((p, i) => ({
      ...p,
      split: i < 6 ? 'train' : 'test',
    }));
    const nTrain = data.filter(isFinetunePatient).length;
    const body = sampleBody('task', 'coordinator');
    const task = {
      ...body,
      stage: 'finetune',
      config: { ...body.config, localEpochs: 1, batchSize: 2, learningRate: 1e-3 },
    } as TaskBody;
    const logged: Array<{ fields: unknown; message: string }> = [];
    const log = {
      ...silentLog,
      info: (fields: unknown, message: string) => logged.push({ fields, message }),
    };
    const executor = new FinetuneExecutor({
      modelConfig: config,
      data: async () => data,
      log,
      dpSgd: { clip: 1, noiseMultiplier: 1.5, delta: 1e-3, noise: new Rng(4) },
    });
    const global = PhccModel.create(TINY, 1).params.getWeights();
    const ctx = { signal: new AbortController().signal, progress: () => undefined };
    const first = await executor.execute(task, global, ctx);
    const second = await executor.execute(task, global, ctx);
    if (first.kind !== 'train' || second.kind !== 'train') throw new Error('expected training results');
    const steps = Math.ceil(nTrain / 2);
    const expected = (tasks: number) =>
      new RdpAccountant()
        .compose({ noiseMultiplier: 1.5, sampleRate: 2 / nTrain, steps: tasks * steps })
        .spent(1e-3).epsilon;
    expect(first.metrics).toMatchObject({ dp_sgd_clip: 1, dp_sgd_noise_multiplier: 1.5, dp_sgd_delta: 1e-3 });
    expect(first.metrics.dp_sgd_sample_rate).toBeCloseTo(2 / nTrain, 12);
    expect(first.metrics.dp_sgd_epsilon).toBeCloseTo(expected(1), 10);
    expect(second.metrics.dp_sgd_epsilon).toBeCloseTo(expected(2), 10);
    expect(second.metrics.dp_sgd_round_epsilon).toBeCloseTo(expected(1), 10);
    expect(first.metrics.dp_sgd_clipped_share).toBeGreaterThanOrEqual(0);
    // The site's own log says what each released task spent.
    const spent = logged.filter((l) => /record-level DP-SGD/.test(l.message));
    expect(spent).toHaveLength(2);
    expect(spent[1].fields).toMatchObject({ runEpsilon: second.metrics.dp_sgd_epsilon, steps });
  });
});
