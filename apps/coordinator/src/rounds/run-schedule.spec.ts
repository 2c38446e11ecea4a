import { createStrategy } from '../../../../libs/federated/src';
import { validatePlan } from '../runs/run-plan';
import { roundSeed, runSteps, taskConfig, taskIdFor } from './run-schedule';

const plan = validatePlan({
  stages: {
    ssl: { rounds: 2, localEpochs: 3, optimiser: { name: 'adam', lr: 0.002 }, batchSize: 4, maskRatio: 0.6 },
    finetune: { rounds: 1, localEpochs: 1, optimiser: { name: 'sgd', lr: 0.01 }, batchSize: 8 },
  },
  strategy: { name: 'fedprox', params: { mu: 0.05 } },
  quorum: { minSites: 2 },
  roundDeadlineSeconds: 60,
  encoding: 'float16',
  evaluation: { final: true },
  seed: 11,
});

describe('run schedule', () => {
  it('runs SSL rounds, then fine-tune rounds, then one final evaluation', () => {
    expect(runSteps(plan)).toEqual([
      { stage: 'ssl', round: 0 },
      { stage: 'ssl', round: 1 },
      { stage: 'finetune', round: 0 },
      { stage: 'evaluate', round: 0 },
    ]);
  });

  it("builds each task's config from its stage and the strategy", () => {
    const strategy = createStrategy({ name: 'fedprox', mu: 0.05 });
    expect(taskConfig(plan, { stage: 'ssl', round: 1 }, strategy, 1000)).toEqual({
      localEpochs: 3,
      learningRate: 0.002,
      batchSize: 4,
      seed: roundSeed(11, { stage: 'ssl', round: 1 }),
      updateEncoding: 'float16',
      updateKind: 'delta',
      maxUpdateBytes: 1000,
      proximalMu: 0.05,
      maskRatio: 0.6,
    });
    const finetune = taskConfig(plan, { stage: 'finetune', round: 0 }, strategy, 1000);
    expect(finetune).toMatchObject({ localEpochs: 1, learningRate: 0.01, batchSize: 8 });
    expect(finetune.maskRatio).toBeUndefined();
  });

  it('gives distinct, protocol-valid task ids and seeds per round, attempt and site', () => {
    const long = 'h'.repeat(64);
    const ids = new Set([
      taskIdFor('r-1', { stage: 'ssl', round: 0 }, 1, 'a'),
      taskIdFor('r-1', { stage: 'ssl', round: 0 }, 2, 'a'),
      taskIdFor('r-1', { stage: 'ssl', round: 0 }, 1, 'b'),
      taskIdFor('r-1', { stage: 'finetune', round: 0 }, 1, 'a'),
      taskIdFor('r-1', { stage: 'ssl', round: 0 }, 1, long),
    ]);
    expect(ids.size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9][a-z0-9._-]{0,63}$/);
    expect(roundSeed(11, { stage: 'ssl', round: 0 })).not.toBe(roundSeed(11, { stage: 'ssl', round: 1 }));
    expect(roundSeed(11, { stage: 'ssl', round: 0 })).toBe(roundSeed(11, { stage: 'ssl', round: 0 }));
  });
});
