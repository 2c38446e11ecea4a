import { InputError } from '../../../../libs/common/src';
import type { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { validatePlan } from '../../../coordinator/src/runs/run-plan';
import { pairedFollowUpPlan } from './paired-follow-up';

const FINAL = 'a'.repeat(128);
const CENTRAL = 'b'.repeat(128);
const finished = (plan: Record<string, unknown>, state = 'completed') => ({
  id: 'r-1',
  state,
  plan: validatePlan({
    stages: { finetune: { rounds: 3, localEpochs: 2, batchSize: 6, optimiser: { name: 'adam', lr: 1e-3 } } },
    strategy: { name: 'fedbn' },
    quorum: { minSites: 2 },
    roundDeadlineSeconds: 90,
    maxRetries: 3,
    encoding: 'float16',
    evaluation: { final: true, everyKRounds: 1, threshold: 0.4 },
    sites: ['hospital-a', 'hospital-b'],
    model: { depth: 1 },
    phases: ['pre', 'post1'],
    seed: 7,
    ...plan,
  }) as RunPlanDto,
});

describe('the paired follow-up plan (admin runs pair)', () => {
  it("keeps who evaluates and how sites score; trains nothing; evaluates the run's final model against --with", () => {
    const plan = pairedFollowUpPlan(finished({}), FINAL, [CENTRAL]);
    expect(validatePlan(JSON.parse(JSON.stringify(plan)))).toBeDefined();
    expect(plan).toEqual({
      name: 'paired evaluation of run r-1',
      stages: {},
      strategy: { name: 'fedbn' },
      quorum: { minSites: 2 },
      roundDeadlineSeconds: 90,
      maxRetries: 3,
      encoding: 'float16',
      evaluation: { final: false, compareWith: [CENTRAL], threshold: 0.4, batchSize: 6 },
      sites: ['hospital-a', 'hospital-b'],
      initialModel: FINAL,
      model: { depth: 1 },
      phases: ['pre', 'post1'],
      seed: 7,
    });
  });

  it('keeps the privacy of evaluation (k, secure aggregation) and drops DP, which noises training only', () => {
    const dp = { clip: 1, noiseMultiplier: 1, delta: 1e-5 };
    const plan = pairedFollowUpPlan(
      finished({
        evaluation: { final: true },
        strategy: { name: 'fedavg', params: { updateKind: 'delta' } },
        privacy: { secureAggregation: false, evaluation: { minBinCount: 7 }, dp },
      }),
      FINAL,
      [CENTRAL],
    );
    expect(JSON.parse(JSON.stringify(plan.privacy))).toEqual({
      secureAggregation: false,
      evaluation: { minBinCount: 7 },
    });
    expect(validatePlan(JSON.parse(JSON.stringify(plan)))).toBeDefined();
  });

  it.each([
    [finished({}, 'running'), [CENTRAL], 'run r-1 is running: a paired evaluation needs a completed run'],
    [finished({}), [], '--with: name at least one model digest to compare with'],
    [finished({}), ['B'.repeat(128)], '--with BBBBBBBBBBBBBBBBBBBB: not a SHA-512 digest'],
    [finished({}), [FINAL], "that is run r-1's final model itself"],
    [finished({}), [CENTRAL, CENTRAL], '--with: a digest is named twice'],
  ])('refuses bad input with one line (%#)', (run, compareWith, message) => {
    expect(() => pairedFollowUpPlan(run, FINAL, compareWith)).toThrow(InputError);
    expect(() => pairedFollowUpPlan(run, FINAL, compareWith)).toThrow(message);
  });
});
