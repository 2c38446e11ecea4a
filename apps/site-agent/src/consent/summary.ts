import { ConsentPlan, planDigest, planEpsilon, planMinBinCount } from './plan';

/** What a person at the hospital reviews before approving a plan. */
export interface PlanSummary {
  digest: string;
  name: string;
  stages: {
    stage: 'ssl' | 'finetune';
    rounds: number;
    localEpochs: number;
    batchSize: number;
    optimiser: string;
  }[];
  strategy: string;
  /** Every kind of data that leaves the site under this plan, in words. */
  sends: string[];
  privacy: {
    secureAggregation: boolean;
    threshold: number | null;
    differentialPrivacy: string;
    epsilon: number | null;
    delta: number | null;
    minBinCount: number;
  };
}

export function summarisePlan(plan: ConsentPlan): PlanSummary {
  const privacy = plan.privacy;
  const dp = privacy?.dp;
  const secure = privacy?.secureAggregation === true;
  const k = planMinBinCount(plan);
  const epsilon = planEpsilon(plan);
  const stages = (['ssl', 'finetune'] as const)
    .filter((s) => plan.stages[s])
    .map((stage) => {
      const s = plan.stages[stage]!;
      return {
        stage,
        rounds: s.rounds,
        localEpochs: s.localEpochs,
        batchSize: s.batchSize,
        optimiser: `${s.optimiser.name} lr ${s.optimiser.lr}`,
      };
    });
  const updateKind = (plan.strategy.params?.updateKind as string | undefined) ?? 'delta';
  const sends: string[] = [];
  if (stages.length > 0) {
    sends.push(
      `each round: the model ${updateKind === 'weights' ? 'weights' : 'update (new weights − global)'} in ${plan.encoding}` +
        (plan.strategy.params?.keepLocal
          ? `, except tensors matching /${String(plan.strategy.params.keepLocal)}/`
          : '') +
        (secure
          ? ', masked: the coordinator sees only the sum over sites'
          : ', in clear: the coordinator sees this site’s update') +
        (dp ? `, clipped to L2 norm ${dp.clip}${dp.noise === 'central' ? '' : ' and noised'}` : ''),
    );
    sends.push('each round: the number of training samples and the training loss');
  }
  const finetune = plan.stages.finetune;
  if (finetune && plan.evaluation.crossSite && plan.evaluation.crossSiteModels === 'local-only') {
    sends.push(
      `once, after the federated rounds: a model trained on this site’s data alone (${finetune.rounds * finetune.localEpochs} fine-tune epochs from the initial model), ` +
        `as a ${updateKind === 'weights' ? 'weights' : 'update'} in ${plan.encoding}, in clear, for the cross-site matrix; never averaged into the global`,
    );
  }
  if (plan.evaluation.final || (plan.evaluation.everyKRounds ?? 0) > 0) {
    sends.push(
      k > 1
        ? `evaluation: per-class score histograms with at least ${k} patients in every bin, AUC and counts`
        : 'evaluation: per-class score histograms at 1/1000 resolution (with few patients each one sits in its own bin), AUC and counts',
    );
  }
  if (secure)
    sends.push(
      'secure aggregation: two public keys, key shares sealed for neighbouring sites, and shares revealed to unmask the sum',
    );
  return {
    digest: planDigest(plan),
    name: plan.name ?? '(unnamed)',
    stages,
    strategy: plan.strategy.name,
    sends,
    privacy: {
      secureAggregation: secure,
      threshold: privacy?.threshold ?? null,
      differentialPrivacy: dp
        ? `${dp.noise ?? (secure ? 'distributed' : 'central')} Gaussian noise, clip ${dp.clip}${dp.adaptive ? ' (adaptive)' : ''}, ` +
          (dp.noiseMultiplier !== undefined
            ? `noise multiplier ${dp.noiseMultiplier}`
            : `target ε ${dp.targetEpsilon}`)
        : 'none',
      epsilon: Number.isFinite(epsilon) ? epsilon : null,
      delta: dp?.delta ?? null,
      minBinCount: k,
    },
  };
}

/** The summary as text for a terminal or a log. */
export function renderPlanSummary(s: PlanSummary): string {
  const lines = [
    `Plan "${s.name}"  sha512 ${s.digest}`,
    `Strategy: ${s.strategy}`,
    ...s.stages.map(
      (t) =>
        `Stage ${t.stage}: ${t.rounds} rounds × ${t.localEpochs} local epochs, batch ${t.batchSize}, ${t.optimiser}`,
    ),
    'What leaves this site:',
    ...s.sends.map((line) => `  - ${line}`),
    'Privacy:',
    `  secure aggregation: ${s.privacy.secureAggregation ? `yes (threshold ${s.privacy.threshold})` : 'no'}`,
    `  differential privacy: ${s.privacy.differentialPrivacy}`,
    `  privacy loss for the run: ${s.privacy.epsilon === null ? 'unbounded (no DP)' : `ε = ${s.privacy.epsilon.toFixed(2)} at δ = ${s.privacy.delta}`}`,
    `  smallest released histogram bin: ${s.privacy.minBinCount} patient(s)`,
    `To approve: phcc-fed agent --approve ${s.digest}  (or put a file named ${s.digest} in the approvals folder)`,
  ];
  return lines.join('\n');
}
