import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../../libs/common/src';
import {
  canonicalPlan,
  parsePlanText,
  PlanError,
  planFromBody,
  strategyOf,
  strategySpecOf,
  validatePlan,
} from './run-plan';
import { PrivateStrategy } from '../../../../libs/federated/src/strategies/private';
import { planDigest } from '../../../../libs/protocol/src/consent';
import { canTransition, isTerminal } from './run-state';

const planFile = (name: string) => readFileSync(join(packageRoot(), 'configs', 'plans', name), 'utf8');

/** The problems a plan is refused with (fails the test if it is accepted). */
function problemsOf(raw: unknown): string[] {
  try {
    validatePlan(raw);
  } catch (err) {
    if (err instanceof PlanError) return err.problems;
    throw err;
  }
  throw new Error('plan was accepted');
}

const quick = () => parsePlanText(planFile('quick.yaml')) as Record<string, unknown>;

describe('run plans', () => {
  it.each(['quick.yaml', 'default.yaml', 'eval-only.yaml', 'private.yaml'])('accepts configs/plans/%s', (name) => {
    const plan = validatePlan(parsePlanText(planFile(name)));
    expect(plan.quorum.minSites).toBeGreaterThanOrEqual(1);
  });

  it('reads the example plans as written', () => {
    const plan = validatePlan(parsePlanText(planFile('default.yaml')));
    expect(plan.stages.ssl).toMatchObject({ rounds: 50, maskRatio: 0.6, optimiser: { name: 'adam', lr: 0.0003 } });
    expect(strategySpecOf(plan)).toEqual({ name: 'fedprox', mu: 0.01, updateKind: 'delta' });
    expect(validatePlan(parsePlanText(planFile('eval-only.yaml'))).stages).toEqual({});
  });

  it('gives YAML and the same plan in JSON one canonical form', () => {
    const fromYaml = validatePlan(parsePlanText(planFile('quick.yaml')));
    const fromJson = validatePlan(planFromBody(JSON.parse(JSON.stringify(quick()))));
    const fromWrapped = validatePlan(planFromBody({ plan: planFile('quick.yaml') }));
    expect(canonicalPlan(fromJson)).toBe(canonicalPlan(fromYaml));
    expect(canonicalPlan(fromWrapped)).toBe(canonicalPlan(fromYaml));
  });

  it('names the field of every out-of-range or mistyped value', () => {
    const plan = quick();
    const stages = plan.stages as { ssl: Record<string, unknown> };
    stages.ssl.rounds = 5000;
    stages.ssl.maskRatio = '0.6';
    plan.encoding = 'float8';
    const problems = problemsOf(plan);
    expect(problems).toHaveLength(3);
    expect(problems).toEqual(
      expect.arrayContaining([
        'stages.ssl.rounds: rounds must not be greater than 1000',
        expect.stringMatching(/^stages\.ssl\.maskRatio: maskRatio must be a number/),
        expect.stringMatching(/^encoding: encoding must be one of .*float32, float16, int8/),
      ]),
    );
  });

  it('refuses unknown fields with their full path, and missing required ones', () => {
    const plan = quick();
    (plan.stages as { ssl: { optimiser: Record<string, unknown> } }).ssl.optimiser.momentum = 0.9;
    delete plan.quorum;
    expect(problemsOf(plan)).toEqual(
      expect.arrayContaining(['stages.ssl.optimiser.momentum: unknown field', expect.stringMatching(/^quorum: /)]),
    );
  });

  it('checks the rules that tie fields together', () => {
    expect(problemsOf({ ...quick(), sites: ['hospital-a'], quorum: { minSites: 2 } })).toEqual([
      expect.stringMatching(/^quorum\.minSites: 2 is more than the 1 site/),
    ]);
    expect(problemsOf({ ...quick(), stages: {}, evaluation: { final: false } })).toEqual([
      expect.stringMatching(/^stages: the plan neither trains/),
    ]);
    const sslOnly = { ...quick(), stages: { ssl: (quick().stages as { ssl: unknown }).ssl } };
    expect(problemsOf({ ...sslOnly, evaluation: { final: true } })).toEqual([expect.stringMatching(/^initialModel: /)]);
    expect(problemsOf({ ...quick(), sites: ['a', 'a'] })).toEqual([expect.stringMatching(/^sites: /)]);
  });

  it('asks for fine-tuned models where every-k and cross-site evaluation need them', () => {
    const stages = quick().stages as { ssl: unknown; finetune: { rounds: number } };
    const initialModel = 'a'.repeat(128);
    const sslOnly = { ...quick(), initialModel, stages: { ssl: stages.ssl } };
    expect(problemsOf({ ...sslOnly, evaluation: { final: true, everyKRounds: 1 } })).toEqual([
      expect.stringMatching(/^evaluation\.everyKRounds: every-k evaluation runs in the fine-tune stage only/),
    ]);
    expect(problemsOf({ ...sslOnly, evaluation: { final: true, crossSite: true } })).toEqual([
      expect.stringMatching(/^evaluation\.crossSite: .*without stages\.finetune/),
    ]);
    const evalOnly = parsePlanText(planFile('eval-only.yaml')) as Record<string, unknown>;
    expect(problemsOf({ ...evalOnly, evaluation: { final: true, crossSite: true } })).toEqual([
      expect.stringMatching(/^evaluation\.crossSite: /),
    ]);
    expect(problemsOf({ ...quick(), evaluation: { final: true, everyKRounds: stages.finetune.rounds + 1 } })).toEqual([
      `evaluation.everyKRounds: ${stages.finetune.rounds + 1} is more than the ${stages.finetune.rounds} fine-tune round(s), so no every-k evaluation would run`,
    ]);
    // k = the number of fine-tune rounds is allowed (with final: true it coincides with the final evaluation).
    const k = stages.finetune.rounds;
    expect(validatePlan({ ...quick(), evaluation: { final: false, everyKRounds: k, crossSite: true } }).evaluation).toEqual({
      final: false,
      everyKRounds: k,
      crossSite: true,
    });
  });

  it('evaluation.compareWith: 1–4 distinct model digests; the paired round alone makes a plan that evaluates', () => {
    const b = 'b'.repeat(128);
    expect(validatePlan({ ...quick(), evaluation: { final: true, compareWith: [b] } }).evaluation.compareWith).toEqual([b]);
    const evalOnly = parsePlanText(planFile('eval-only.yaml')) as Record<string, unknown>;
    expect(validatePlan({ ...evalOnly, evaluation: { final: false, compareWith: [b] } }).evaluation).toEqual({
      final: false,
      compareWith: [b],
    });
    expect(problemsOf({ ...quick(), evaluation: { final: true, compareWith: ['nope'] } }).join()).toMatch(
      /^evaluation\.compareWith: compareWith must hold SHA-512 digests/,
    );
    expect(problemsOf({ ...quick(), evaluation: { final: true, compareWith: [b, b] } }).join()).toMatch(
      /evaluation\.compareWith.*unique/,
    );
    expect(
      problemsOf({ ...quick(), evaluation: { final: true, compareWith: ['1', '2', '3', '4', '5'].map((c) => c.repeat(128)) } }).join(),
    ).toMatch(/evaluation\.compareWith: compareWith must contain no more than 4 elements/);
  });

  it('takes local-only models for the cross-site matrix only with the matrix on and a budget one task can train', () => {
    const stages = quick().stages as { finetune: Record<string, unknown> };
    const localOnly = { final: true, crossSite: true, crossSiteModels: 'local-only' };
    expect(validatePlan({ ...quick(), evaluation: localOnly }).evaluation).toEqual(localOnly);
    expect(problemsOf({ ...quick(), evaluation: { ...localOnly, crossSite: false } })).toEqual([
      expect.stringMatching(/^evaluation\.crossSiteModels: local-only .* evaluation\.crossSite is not on$/),
    ]);
    expect(problemsOf({ ...quick(), evaluation: { ...localOnly, crossSiteModels: 'local' } })).toEqual([
      expect.stringMatching(/^evaluation\.crossSiteModels: .*global-finetuned, local-only$/),
    ]);
    const long = { ...quick(), stages: { ...stages, finetune: { ...stages.finetune, rounds: 1000, localEpochs: 2 } } };
    expect(problemsOf({ ...long, evaluation: localOnly })).toEqual([
      expect.stringMatching(/^evaluation\.crossSiteModels: .*1000 rounds × 2 local epochs is more than a task's 1000 epochs$/),
    ]);
    // The default matrix is unchanged.
    expect(validatePlan({ ...long, evaluation: { ...localOnly, crossSiteModels: 'global-finetuned' } }).stages.finetune?.rounds).toBe(1000);
    // The SSL stage's budget is trained in the same task (its local SSL part), so it must fit too.
    const withSsl = stages as { ssl: Record<string, unknown>; finetune: Record<string, unknown> };
    const longSsl = { ...quick(), stages: { ...withSsl, ssl: { ...withSsl.ssl, rounds: 501, localEpochs: 2 } } };
    expect(problemsOf({ ...longSsl, evaluation: localOnly })).toEqual([
      expect.stringMatching(/^evaluation\.crossSiteModels: .*whole SSL budget .*501 rounds × 2 local epochs is more than a task's 1000 epochs$/),
    ]);
  });

  it("refuses a strategy parameter the strategy does not take, and the library's range errors", () => {
    expect(problemsOf({ ...quick(), strategy: { name: 'fedavg', params: { mu: 0.1 } } })).toEqual([
      expect.stringMatching(/^strategy\.params\.mu: not a parameter of fedavg/),
    ]);
    expect(problemsOf({ ...quick(), strategy: { name: 'fedadam', params: { beta1: 1.5 } } })).toEqual([
      expect.stringMatching(/^strategy\.params: .*beta1/),
    ]);
    expect(problemsOf({ ...quick(), strategy: { name: 'fedavg', params: { keepLocal: '([' } } })).toEqual([
      expect.stringMatching(/^strategy\.params\.keepLocal: not a valid regular expression/),
    ]);
  });

  it('refuses text that is not YAML, duplicate keys and alias bombs', () => {
    expect(() => parsePlanText('a: [1, 2')).toThrow(/not valid YAML or JSON/);
    expect(() => parsePlanText('seed: 1\nseed: 2\n')).toThrow(/not valid YAML or JSON/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) bomb.push(`${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(9).fill(`*${i ? 'b'.repeat(i) : 'a'}`).join(', ')}]`);
    expect(() => parsePlanText(bomb.join('\n'))).toThrow(PlanError);
    expect(problemsOf([1, 2])).toEqual(['must be an object (a YAML mapping)']);
  });

  it('the digest a site approves is the run\'s stored planDigest (SHA-512 of the canonical plan)', () => {
    const text = canonicalPlan(validatePlan(parsePlanText(planFile('private.yaml'))));
    expect(planDigest(JSON.parse(text) as object)).toBe(createHash('sha512').update(text).digest('hex'));
  });

  it('privacy: the plan wraps its strategy in PrivateStrategy, k defaults to 5, z derives from targetEpsilon', () => {
    const plan = validatePlan(parsePlanText(planFile('private.yaml')));
    const strategy = strategyOf(plan);
    expect(strategy).toBeInstanceOf(PrivateStrategy);
    expect(strategy.parameters.minBinCount).toBe(5);
    expect((strategy as PrivateStrategy).noiseMultiplier).toBeGreaterThan(0.5);
    const noK = { ...quick(), evaluation: { final: true }, privacy: { secureAggregation: false } };
    expect(strategyOf(validatePlan(noK)).parameters.minBinCount).toBe(5);
    expect(strategyOf(validatePlan(quick()))).not.toBeInstanceOf(PrivateStrategy);
  });

  it('privacy: refuses DP with the cross-site matrix, with full-weight updates, and distributed noise without secure aggregation', () => {
    const dp = { clip: 1, noiseMultiplier: 1, delta: 1e-5 };
    expect(problemsOf({ ...quick(), privacy: { secureAggregation: false, dp } }).join()).toMatch(/evaluation.crossSite/);
    const noCross = { ...quick(), evaluation: { final: true } };
    expect(
      problemsOf({ ...noCross, strategy: { name: 'fedavg', params: { updateKind: 'weights' } }, privacy: { secureAggregation: false, dp } }).join(),
    ).toMatch(/privacy: .*updateKind "delta"/);
    expect(problemsOf({ ...noCross, privacy: { secureAggregation: false, dp: { ...dp, noise: 'distributed' } } }).join()).toMatch(
      /distributed.*needs secureAggregation/,
    );
  });
});

describe('run state machine', () => {
  it('starts only a created run, stops any live one, and nothing leaves a terminal state', () => {
    expect(canTransition('created', 'start')).toBe(true);
    expect(canTransition('running', 'start')).toBe(false);
    expect(canTransition('running', 'stop')).toBe(true);
    expect(canTransition('created', 'stop')).toBe(true);
    for (const state of ['completed', 'failed', 'stopped'] as const) {
      expect(isTerminal(state)).toBe(true);
      for (const action of ['start', 'stop', 'complete', 'fail'] as const) expect(canTransition(state, action)).toBe(false);
    }
  });
});
