import { instanceToPlain, plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InputError } from '../../../../libs/common/src';
import { canonicalJson } from '../../../../libs/protocol/src/envelope/canonical';
import { createStrategy, StrategySpec } from '../../../../libs/federated/src/strategies/registry';
import { PrivateStrategy, PrivateStrategyOptions } from '../../../../libs/federated/src/strategies/private';
import type { Strategy } from '../../../../libs/federated/src/strategies/strategy';
import { DEFAULT_MIN_BIN_COUNT } from '../../../../libs/metrics/src/private-histogram';
import { RunPlanDto } from './dto/run-plan.dto';

/**
 * Turning what an admin sent into a checked run plan, in three steps a reader can follow:
 * text → object (YAML or JSON), object → RunPlanDto (field rules), plan → cross-field rules. Pure,
 * so the CLI or a test can check a plan file without a server.
 */

/** A refused plan: every problem, each starting with the field's dotted path. */
export class PlanError extends InputError {
  constructor(
    readonly problems: string[],
    source = 'run plan',
  ) {
    super(`${source} is invalid: ${problems.join('; ')}`, 'BAD_PLAN');
  }
}

/** 1 MB is far beyond any real plan; larger text is refused before the YAML parser sees it. */
const MAX_PLAN_TEXT = 1024 * 1024;

/** YAML (of which JSON is a subset) → plain object; refuses aliases bombs and duplicate keys. */
export function parsePlanText(text: string, source = 'run plan'): unknown {
  if (text.length > MAX_PLAN_TEXT) throw new PlanError([`longer than ${MAX_PLAN_TEXT} characters`], source);
  try {
    return parseYaml(text, { maxAliasCount: 50, uniqueKeys: true, prettyErrors: true });
  } catch (err) {
    const message = err instanceof YAMLParseError ? err.message.split('\n')[0] : String(err);
    throw new PlanError([`not valid YAML or JSON: ${message}`], source);
  }
}

/**
 * The request body forms the API accepts: a YAML/JSON text (content-type application/yaml or
 * text/plain), `{ "plan": "<YAML or JSON text>" }`, or the plan as a JSON object.
 */
export function planFromBody(body: unknown): unknown {
  if (typeof body === 'string') return parsePlanText(body);
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const keys = Object.keys(body);
    const plan = (body as { plan?: unknown }).plan;
    if (keys.length === 1 && typeof plan === 'string') return parsePlanText(plan);
  }
  return body;
}

/** Field rules (the DTO) and then the rules that tie fields together. */
export function validatePlan(raw: unknown, source = 'run plan'): RunPlanDto {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PlanError(['must be an object (a YAML mapping)'], source);
  }
  const plan = plainToInstance(RunPlanDto, raw);
  const errors = validateSync(plan, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  const problems = flattenErrors(errors);
  if (!problems.length) problems.push(...crossFieldProblems(plan));
  if (problems.length) throw new PlanError(problems, source);
  return plan;
}

/** The plan as stored and hashed: canonical JSON, so equal plans have equal digests. */
export function canonicalPlan(plan: RunPlanDto): string {
  // Fields the DTO declares but the plan left out are own `undefined` properties: drop them.
  return canonicalJson(JSON.parse(JSON.stringify(instanceToPlain(plan))));
}

/** Which strategy parameters each strategy reads (libs/federated's option interfaces). */
const STRATEGY_PARAMS: Record<RunPlanDto['strategy']['name'], readonly string[]> = {
  fedavg: ['updateKind', 'keepLocal'],
  fedprox: ['mu', 'updateKind', 'keepLocal'],
  fedadam: ['eta', 'beta1', 'beta2', 'tau', 'biasCorrection', 'updateKind', 'keepLocal'],
  fedbn: ['updateKind'],
};

/** The plan's strategy in libs/federated's form (keepLocal text → RegExp). */
export function strategySpecOf(plan: RunPlanDto): StrategySpec {
  const { keepLocal, ...params } = plan.strategy.params ?? {};
  return {
    name: plan.strategy.name,
    ...params,
    ...(keepLocal !== undefined ? { keepLocal: new RegExp(keepLocal) } : {}),
  } as StrategySpec;
}

/**
 * The run's strategy: the plan's, wrapped in `PrivateStrategy` when the plan has a `privacy`
 * section (DP clip/noise/accountant; k-anonymous evaluation with k = 5 unless the plan says).
 */
export function strategyOf(plan: RunPlanDto): Strategy {
  const inner = createStrategy(strategySpecOf(plan));
  return plan.privacy ? new PrivateStrategy(inner, privacyOptionsOf(plan)) : inner;
}

export function privacyOptionsOf(plan: RunPlanDto): PrivateStrategyOptions {
  const privacy = plan.privacy!;
  const dp = privacy.dp;
  return {
    minBinCount: privacy.evaluation?.minBinCount ?? DEFAULT_MIN_BIN_COUNT,
    ...(dp
      ? {
          dp: {
            ...dp,
            trainingRounds: (plan.stages.ssl?.rounds ?? 0) + (plan.stages.finetune?.rounds ?? 0),
            ...(privacy.threshold !== undefined ? { minSummedSites: privacy.threshold } : {}),
          },
        }
      : {}),
  };
}

/** A task's `localEpochs` limit (libs/protocol `TaskConfigDto`), which the local-only task must fit. */
const LOCAL_ONLY_MAX_EPOCHS = 1000;

function crossFieldProblems(plan: RunPlanDto): string[] {
  const problems: string[] = [];
  const { ssl, finetune } = plan.stages;
  const evaluates = plan.evaluation.final || Boolean(plan.evaluation.crossSite) || (plan.evaluation.everyKRounds ?? 0) > 0 || Boolean(plan.evaluation.compareWith);
  if (!ssl && !finetune && !evaluates) {
    problems.push('stages: the plan neither trains (stages.ssl / stages.finetune) nor evaluates (evaluation.final)');
  }
  if (evaluates && !finetune && !plan.initialModel) {
    problems.push('initialModel: evaluation without a fine-tune stage needs a model with a classifier head to start from');
  }
  if (Array.isArray(plan.sites) && plan.quorum.minSites > plan.sites.length) {
    problems.push(`quorum.minSites: ${plan.quorum.minSites} is more than the ${plan.sites.length} site(s) listed in sites`);
  }
  // Every-k and cross-site evaluation need fine-tuned models (libs/federated/src/engine/schedule.ts says why).
  const every = plan.evaluation.everyKRounds ?? 0;
  if (every > 0 && !finetune) {
    problems.push(
      'evaluation.everyKRounds: every-k evaluation runs in the fine-tune stage only (an SSL-stage model has no trained classifier head), and this plan has no stages.finetune',
    );
  } else if (every > 0 && finetune && every > finetune.rounds) {
    problems.push(
      `evaluation.everyKRounds: ${every} is more than the ${finetune.rounds} fine-tune round(s), so no every-k evaluation would run`,
    );
  }
  if (plan.evaluation.crossSite && !finetune) {
    problems.push(
      "evaluation.crossSite: the matrix evaluates each site's own fine-tuned model at every site, and without stages.finetune no site has one (to evaluate one given model at every site, use evaluation.final)",
    );
  }
  const allowed = STRATEGY_PARAMS[plan.strategy.name];
  for (const [key, value] of Object.entries(plan.strategy.params ?? {})) {
    if (value !== undefined && !allowed.includes(key)) {
      problems.push(`strategy.params.${key}: not a parameter of ${plan.strategy.name} (it takes ${allowed.join(', ')})`);
    }
  }
  if (plan.strategy.params?.keepLocal !== undefined) {
    try {
      new RegExp(plan.strategy.params.keepLocal);
    } catch {
      problems.push('strategy.params.keepLocal: not a valid regular expression');
    }
  }
  if (plan.evaluation.crossSiteModels === 'local-only') {
    if (!plan.evaluation.crossSite) {
      problems.push(
        'evaluation.crossSiteModels: local-only says which models the cross-site matrix evaluates, and evaluation.crossSite is not on',
      );
    } else {
      // The local-only task trains each stage's whole budget at once (its SSL part: `localOnlySsl.epochs`).
      for (const [name, stage] of [['fine-tune', finetune], ['SSL', finetune ? ssl : undefined]] as const) {
        if (stage && stage.rounds * stage.localEpochs > LOCAL_ONLY_MAX_EPOCHS)
          problems.push(
            `evaluation.crossSiteModels: a local-only model trains the whole ${name} budget in one task, and ${stage.rounds} rounds × ${stage.localEpochs} local epochs is more than a task's ${LOCAL_ONLY_MAX_EPOCHS} epochs`,
          );
      }
    }
  }
  if (plan.privacy?.dp && plan.evaluation.crossSite) {
    problems.push(
      "evaluation.crossSite: a site's local model is the global plus its own update, which carries no DP noise when the noise is central; the matrix is not released under privacy.dp",
    );
  }
  if (!problems.length) {
    try {
      createStrategy(strategySpecOf(plan)); // the library's own range checks (e.g. fedadam beta1 ∈ [0, 1))
    } catch (err) {
      problems.push(`strategy.params: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (!problems.length && plan.privacy) {
    try {
      strategyOf(plan); // DP's checks (delta updates, noise multiplier reachable for targetEpsilon)
    } catch (err) {
      problems.push(`privacy: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

/** Constraints about a value's type: when one fails, range messages about the same value are noise. */
const TYPE_CONSTRAINTS = ['whitelistValidation', 'isDefined', 'isObject', 'isNumber', 'isInt', 'isString', 'isBoolean', 'isIn'];

/**
 * class-validator's tree → one line per field, `stages.ssl.rounds: rounds must not be greater
 * than 1000`; a type error wins over range errors on the same field.
 */
function flattenErrors(errors: ValidationError[], prefix = ''): string[] {
  const out: string[] = [];
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const constraints = error.constraints ?? {};
    const key = TYPE_CONSTRAINTS.find((k) => k in constraints) ?? Object.keys(constraints)[0];
    if (key === 'whitelistValidation') out.push(`${path}: unknown field`);
    else if (key) out.push(`${path}: ${constraints[key]}`);
    out.push(...flattenErrors(error.children ?? [], path));
  }
  return out;
}
