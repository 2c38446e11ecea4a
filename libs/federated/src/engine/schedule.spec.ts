import { createStrategy } from '../strategies/registry';
import type { EnginePlan } from './plan';
import {
  countsTowardsProgress,
  CROSS_SITE_ROUND_BASE,
  crossSiteSteps,
  evaluationKindOf,
  evaluationThresholdOf,
  frozenEncoderEpochsOf,
  LOCAL_ONLY_ROUND,
  roundDeadlineSecondsOf,
  roundSeed,
  runSteps,
  taskConfig,
  taskIdFor,
  taskInstruction,
  TOKEN_CENTRING_ROUND,
} from './schedule';

const plan: EnginePlan = {
  stages: {
    ssl: { rounds: 2, localEpochs: 3, optimiser: { name: 'adam', lr: 0.002 }, batchSize: 4, maskRatio: 0.6 },
    finetune: { rounds: 1, localEpochs: 1, optimiser: { name: 'sgd', lr: 0.01 }, batchSize: 8 },
  },
  quorum: { minSites: 2 },
  roundDeadlineSeconds: 60,
  encoding: 'float16',
  evaluation: { final: true },
  seed: 11,
};

describe('run schedule', () => {
  it('runs SSL rounds, then the token-centring round and the fine-tune rounds, then one final evaluation', () => {
    expect(runSteps(plan)).toEqual([
      { stage: 'ssl', round: 0 },
      { stage: 'ssl', round: 1 },
      { stage: 'finetune', round: TOKEN_CENTRING_ROUND },
      { stage: 'finetune', round: 0 },
      { stage: 'evaluate', round: 0 },
    ]);
  });

  it('evaluates the global model after every k-th fine-tune round, never in SSL, never twice at the end', () => {
    const withEvery = (k: number, final: boolean) =>
      runSteps({
        ...plan,
        stages: { ...plan.stages, finetune: { ...plan.stages.finetune!, rounds: 5 } },
        evaluation: { final, everyKRounds: k },
      })
        .map((s) => `${s.stage}/${s.round}`)
        .join(' ');
    expect(withEvery(2, true)).toBe(
      'ssl/0 ssl/1 finetune/10000 finetune/0 finetune/1 evaluate/2 finetune/2 finetune/3 evaluate/4 finetune/4 evaluate/0',
    );
    // k divides the last round: the final evaluation already evaluates that model.
    expect(withEvery(5, true)).toBe(
      'ssl/0 ssl/1 finetune/10000 finetune/0 finetune/1 finetune/2 finetune/3 finetune/4 evaluate/0',
    );
    // Without a final evaluation the every-k one after the last round is the only look at the final model.
    expect(withEvery(5, false)).toBe(
      'ssl/0 ssl/1 finetune/10000 finetune/0 finetune/1 finetune/2 finetune/3 finetune/4 evaluate/5',
    );
    expect(
      withEvery(1, true)
        .split(' ')
        .filter((s) => s.startsWith('evaluate')),
    ).toEqual(['evaluate/1', 'evaluate/2', 'evaluate/3', 'evaluate/4', 'evaluate/0']);
  });

  it("counts the plan's SSL and fine-tune rounds and its final evaluation towards progress, nothing the engine adds", () => {
    const steps = runSteps({
      ...plan,
      stages: { ...plan.stages, finetune: { ...plan.stages.finetune!, rounds: 4 } },
      evaluation: {
        final: true,
        everyKRounds: 2,
        crossSite: true,
        crossSiteModels: 'local-only',
        compareWith: ['b'.repeat(128)],
      },
    });
    // The paired round (evaluate/20000) and the local-only training (finetune/20000) are in the run…
    expect(steps.map((s) => `${s.stage}/${s.round}`)).toEqual(
      expect.arrayContaining(['evaluate/20000', 'finetune/20000']),
    );
    // …but neither counts: the progress is the plan's rounds alone.
    const counted = [...steps, ...crossSiteSteps([{ siteId: 'a', finetuneRound: 3 }])]
      .filter(countsTowardsProgress)
      .map((s) => `${s.stage}/${s.round}`);
    expect(counted).toEqual([
      'ssl/0',
      'ssl/1',
      'finetune/0',
      'finetune/1',
      'finetune/2',
      'finetune/3',
      'evaluate/0',
    ]);
  });

  it('numbers one cross-site round per site with a local model, in site-id order, apart from the others', () => {
    const model = (siteId: string, finetuneRound = 4) => ({ siteId, finetuneRound });
    expect(crossSiteSteps([model('site-c'), model('site-a', 2), model('site-b')])).toEqual([
      { stage: 'evaluate', round: CROSS_SITE_ROUND_BASE, localModel: model('site-a', 2) },
      { stage: 'evaluate', round: CROSS_SITE_ROUND_BASE + 1, localModel: model('site-b') },
      { stage: 'evaluate', round: CROSS_SITE_ROUND_BASE + 2, localModel: model('site-c') },
    ]);
    expect([0, 1, 1000, CROSS_SITE_ROUND_BASE + 2].map(evaluationKindOf)).toEqual([
      'final',
      'periodic',
      'periodic',
      'cross-site',
    ]);
  });

  it("carries the plan's phases (and the recorded model's nominal times) to every task", () => {
    const strategy = createStrategy({ name: 'fedavg' });
    const names = ['pre', 'arterial', 'portal_venous', 'delayed'];
    const timed = { ...plan, phases: names, model: { phases: 4, phaseTimes: [0, 35, 70, 180] } };
    for (const step of [
      { stage: 'ssl', round: 0 },
      { stage: 'finetune', round: 0 },
      { stage: 'evaluate', round: 0 },
    ] as const)
      expect(taskConfig(timed, step, strategy, 1000).phases).toEqual({ names, times: [0, 35, 70, 180] });
    // Times that do not fit the names stay home; a plan without phases sends none.
    const untimed = { ...plan, phases: names, model: { phaseTimes: [0, 35] } };
    expect(taskConfig(untimed, { stage: 'ssl', round: 0 }, strategy, 1000).phases).toEqual({ names });
    expect(taskConfig(plan, { stage: 'ssl', round: 0 }, strategy, 1000)).not.toHaveProperty('phases');
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
      // The plan's optimiser (no decay given: 0) and SSL round 1 of 2 × 3 epochs: global epochs 3–5 of 6.
      optimiser: 'adam',
      weightDecay: 0,
      scheduleStartEpoch: 3,
      scheduleTotalEpochs: 6,
      warmupEpochs: 0,
      keepOptimiserState: true,
    });
    const finetune = taskConfig(plan, { stage: 'finetune', round: 0 }, strategy, 1000);
    expect(finetune).toMatchObject({ localEpochs: 1, learningRate: 0.01, batchSize: 8 });
    expect(finetune.maskRatio).toBeUndefined();
    // No warm-up in the plan: the field stays off the wire (agents before it refuse unknown fields).
    expect(finetune).not.toHaveProperty('freezeEncoderEpochs');
  });

  it("gives evaluation tasks the plan's evaluation.batchSize, else the fine-tune stage's, else 1", () => {
    const strategy = createStrategy({ name: 'fedavg' });
    const evaluate = { stage: 'evaluate', round: 0 } as const;
    expect(taskConfig(plan, evaluate, strategy, 1000).batchSize).toBe(8);
    const stageless: EnginePlan = { ...plan, stages: {}, initialModel: 'a'.repeat(128) };
    expect(taskConfig(stageless, evaluate, strategy, 1000).batchSize).toBe(1);
    const carried = { ...stageless, evaluation: { final: true, batchSize: 4 } };
    expect(taskConfig(carried, evaluate, strategy, 1000).batchSize).toBe(4);
    // Training rounds keep their stage's batch size whatever the evaluation's.
    const both = { ...plan, evaluation: { final: true, batchSize: 2 } };
    expect(taskConfig(both, { stage: 'finetune', round: 0 }, strategy, 1000).batchSize).toBe(8);
    expect(taskConfig(both, evaluate, strategy, 1000).batchSize).toBe(2);
  });

  it("places every training round in its stage's one schedule, with the plan's optimiser and warm-up", () => {
    const strategy = createStrategy({ name: 'fedavg' });
    const faithful: EnginePlan = {
      ...plan,
      stages: {
        ...plan.stages,
        finetune: {
          rounds: 3,
          localEpochs: 5,
          optimiser: { name: 'adam', lr: 0.002, weightDecay: 0.05 },
          batchSize: 8,
          warmupEpochs: 1,
        },
      },
    };
    const rounds = [0, 1, 2].map((round) =>
      taskConfig(faithful, { stage: 'finetune', round }, strategy, 1000),
    );
    expect(rounds.map((c) => [c.scheduleStartEpoch, c.scheduleTotalEpochs])).toEqual([
      [0, 15],
      [5, 15],
      [10, 15],
    ]);
    for (const c of rounds)
      expect(c).toMatchObject({
        optimiser: 'adam',
        weightDecay: 0.05,
        warmupEpochs: 1,
        keepOptimiserState: true,
      });
    // Evaluation trains nothing: none of the training fields.
    const evaluation = taskConfig(faithful, { stage: 'evaluate', round: 0 }, strategy, 1000);
    for (const field of [
      'optimiser',
      'weightDecay',
      'scheduleStartEpoch',
      'keepOptimiserState',
      'tokenCentring',
    ])
      expect(evaluation).not.toHaveProperty(field);
  });

  it("fixes an evaluation task's operating point: the plan's threshold, else a local model's own validation cut-off", () => {
    const strategy = createStrategy({ name: 'fedavg' });
    const final = { stage: 'evaluate' as const, round: 0 };
    const crossSite = {
      stage: 'evaluate' as const,
      round: CROSS_SITE_ROUND_BASE,
      localModel: { siteId: 'site-a', finetuneRound: 0, threshold: 0.42 },
    };
    // Nothing fixed: each site chooses on its validation split (the field is absent).
    expect(taskConfig(plan, final, strategy, 1000)).not.toHaveProperty('evaluationThreshold');
    // A cross-site round carries the owner's validation cut-off, transferred to every site.
    expect(taskConfig(plan, crossSite, strategy, 1000).evaluationThreshold).toBe(0.42);
    expect(crossSiteSteps([crossSite.localModel])[0]).toEqual(crossSite);
    // The plan's fixed threshold wins everywhere; training tasks never carry one.
    const fixed = { ...plan, evaluation: { final: true, threshold: 0.3 } };
    expect(taskConfig(fixed, final, strategy, 1000).evaluationThreshold).toBe(0.3);
    expect(taskConfig(fixed, crossSite, strategy, 1000).evaluationThreshold).toBe(0.3);
    expect(evaluationThresholdOf(fixed, { stage: 'evaluate', round: 3 })).toBe(0.3);
    expect(taskConfig(fixed, { stage: 'finetune', round: 0 }, strategy, 1000)).not.toHaveProperty(
      'evaluationThreshold',
    );
  });

  it('asks for the token centre, in float32, with neither training fields nor a proximal pull', () => {
    const strategy = createStrategy({ name: 'fedprox', mu: 0.05 });
    const step = { stage: 'finetune' as const, round: TOKEN_CENTRING_ROUND };
    const config = taskConfig(plan, step, strategy, 1000);
    expect(config).toEqual({
      localEpochs: 1,
      learningRate: 0.01,
      batchSize: 8,
      seed: roundSeed(11, step),
      updateEncoding: 'float32',
      updateKind: 'delta',
      maxUpdateBytes: 1000,
      tokenCentring: true,
    });
    const [fit] = strategy.configureFit(TOKEN_CENTRING_ROUND, { stage: 'finetune', siteIds: ['a'] });
    expect(taskInstruction(plan, step, fit)).toEqual({ parts: ['encoder', 'head'], updateKind: 'delta' });
    expect(taskInstruction(plan, { stage: 'finetune', round: 0 }, fit)).toMatchObject({
      optimiser: { name: 'sgd' },
      proximalMu: 0.05,
    });
  });

  it('spreads the head-only warm-up over fine-tune rounds, counting global epochs', () => {
    // W = 5 warm-up epochs, E = 2 local epochs: rounds cover epochs 0-1, 2-3, 4-5, 6-7.
    expect([0, 1, 2, 3].map((r) => frozenEncoderEpochsOf(r, 2, 5))).toEqual([2, 2, 1, 0]);
    // E = 3 and W = 2: two of the first round's three epochs, none later.
    expect([0, 1].map((r) => frozenEncoderEpochsOf(r, 3, 2))).toEqual([2, 0]);
    // One local epoch per round, W = 2: the first two rounds train the head only.
    expect([0, 1, 2].map((r) => frozenEncoderEpochsOf(r, 1, 2))).toEqual([1, 1, 0]);
    expect(frozenEncoderEpochsOf(0, 4, 0)).toBe(0);
  });

  it("puts each fine-tune round's frozen-encoder epochs into its task config, and only there", () => {
    const strategy = createStrategy({ name: 'fedavg' });
    const warm = {
      ...plan,
      stages: {
        ...plan.stages,
        finetune: { ...plan.stages.finetune!, rounds: 4, localEpochs: 2, frozenEncoderWarmupEpochs: 3 },
      },
    };
    const frozen = [0, 1, 2, 3].map(
      (round) => taskConfig(warm, { stage: 'finetune', round }, strategy, 1000).freezeEncoderEpochs,
    );
    expect(frozen).toEqual([2, 1, undefined, undefined]);
    expect(taskConfig(warm, { stage: 'ssl', round: 0 }, strategy, 1000)).not.toHaveProperty(
      'freezeEncoderEpochs',
    );
    expect(taskConfig(warm, { stage: 'evaluate', round: 0 }, strategy, 1000)).not.toHaveProperty(
      'freezeEncoderEpochs',
    );
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

  describe('local-only models for the cross-site matrix', () => {
    const localOnly: EnginePlan = {
      ...plan,
      stages: {
        finetune: {
          rounds: 3,
          localEpochs: 2,
          optimiser: { name: 'adam', lr: 0.002, weightDecay: 0.05 },
          batchSize: 8,
          warmupEpochs: 1,
          frozenEncoderWarmupEpochs: 3,
        },
      },
      evaluation: { final: true, crossSite: true, crossSiteModels: 'local-only' },
    };
    const step = { stage: 'finetune' as const, round: LOCAL_ONLY_ROUND };

    it('ends the plan on the local-only training round, and only when the matrix asks for it', () => {
      expect(runSteps(localOnly).slice(-2)).toEqual([{ stage: 'evaluate', round: 0 }, step]);
      const globalFinetuned = { ...localOnly, evaluation: { final: true, crossSite: true } };
      expect(runSteps(globalFinetuned)).not.toContainEqual(step);
      const noMatrix = { ...localOnly, evaluation: { final: true, crossSiteModels: 'local-only' as const } };
      expect(runSteps(noMatrix)).not.toContainEqual(step);
    });

    it('asks for the whole fine-tune budget in one task: one schedule, the whole head-only warm-up, a fresh optimiser, no pull', () => {
      const strategy = createStrategy({ name: 'fedprox', mu: 0.05 });
      expect(taskConfig(localOnly, step, strategy, 1000)).toEqual({
        localEpochs: 6,
        learningRate: 0.002,
        batchSize: 8,
        seed: roundSeed(11, step),
        updateEncoding: 'float16',
        updateKind: 'delta',
        maxUpdateBytes: 1000,
        optimiser: 'adam',
        weightDecay: 0.05,
        scheduleStartEpoch: 0,
        scheduleTotalEpochs: 6,
        warmupEpochs: 1,
        keepOptimiserState: false,
        freezeEncoderEpochs: 3,
        localOnly: true,
      });
      const [fit] = strategy.configureFit(LOCAL_ONLY_ROUND, { stage: 'finetune', siteIds: ['a'] });
      expect(taskInstruction(localOnly, step, fit)).toEqual({
        parts: ['encoder', 'head'],
        updateKind: 'delta',
        optimiser: { name: 'adam', weightDecay: 0.05 },
      });
    });

    it("in a plan with an SSL stage, asks first for that stage's whole budget on the site's own images (protocol 1.4)", () => {
      const strategy = createStrategy({ name: 'fedavg' });
      const withSsl: EnginePlan = {
        ...localOnly,
        stages: {
          ...localOnly.stages,
          ssl: {
            rounds: 4,
            localEpochs: 3,
            optimiser: { name: 'adam', lr: 0.0015 },
            batchSize: 16,
            warmupEpochs: 2,
            maskRatio: 0.5,
          },
        },
      };
      const config = taskConfig(withSsl, step, strategy, 1000);
      expect(config.localOnlySsl).toEqual({
        epochs: 12,
        learningRate: 0.0015,
        batchSize: 16,
        maskRatio: 0.5,
        optimiser: 'adam',
        weightDecay: 0,
        warmupEpochs: 2,
      });
      // The fine-tune part is the same task as without SSL.
      const { localOnlySsl: _ssl, ...finetunePart } = config;
      expect(finetunePart).toEqual(taskConfig(localOnly, step, strategy, 1000));
      // Only the local-only task carries it; a plan without SSL never does.
      expect(taskConfig(withSsl, { stage: 'finetune', round: 0 }, strategy, 1000)).not.toHaveProperty(
        'localOnlySsl',
      );
      expect(taskConfig(localOnly, step, strategy, 1000)).not.toHaveProperty('localOnlySsl');
    });

    it('gives the local-only task the deadlines of the training rounds it stands for, and every other round one', () => {
      const ssl = {
        rounds: 4,
        localEpochs: 1,
        optimiser: { name: 'adam' as const, lr: 1e-3 },
        batchSize: 8,
        maskRatio: 0.6,
      };
      expect(roundDeadlineSecondsOf(localOnly, step)).toBe(3 * localOnly.roundDeadlineSeconds);
      expect(roundDeadlineSecondsOf({ ...localOnly, stages: { ...localOnly.stages, ssl } }, step)).toBe(
        7 * localOnly.roundDeadlineSeconds,
      );
      for (const other of [
        { stage: 'finetune' as const, round: 0 },
        { stage: 'finetune' as const, round: TOKEN_CENTRING_ROUND },
        { stage: 'evaluate' as const, round: 0 },
      ])
        expect(roundDeadlineSecondsOf(localOnly, other)).toBe(localOnly.roundDeadlineSeconds);
    });

    it("keeps nothing back: FedBN's kept tensors are neither withheld from nor overlaid on a local-only model", () => {
      const strategy = createStrategy({ name: 'fedbn' });
      const [fit] = strategy.configureFit(LOCAL_ONLY_ROUND, { stage: 'finetune', siteIds: ['a'] });
      const [evaluate] = strategy.configureEvaluate(CROSS_SITE_ROUND_BASE, { siteIds: ['a'] });
      expect(fit.keepLocalPattern).toBeDefined();
      expect(taskInstruction(localOnly, step, fit)).not.toHaveProperty('keepLocalPattern');
      expect(taskInstruction(localOnly, { stage: 'finetune', round: 0 }, fit)).toHaveProperty(
        'keepLocalPattern',
      );
      const ownerOf = (finetuneRound: number) => ({
        stage: 'evaluate' as const,
        round: CROSS_SITE_ROUND_BASE,
        localModel: { siteId: 'a', finetuneRound },
      });
      expect(taskInstruction(localOnly, ownerOf(LOCAL_ONLY_ROUND), evaluate)).not.toHaveProperty(
        'keepLocalPattern',
      );
      expect(taskInstruction(localOnly, ownerOf(2), evaluate)).toHaveProperty('keepLocalPattern');
    });
  });
});
