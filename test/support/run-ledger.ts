import { join } from 'node:path';
import { packageRoot, silentLog } from '../../libs/common/src';

/** The slice of GET /runs/{id} the process-level e2e suites read. */
export interface RoundView {
  stage: string;
  round: number;
  state: string;
  startedAt: string;
  endedAt?: string;
  reason?: string;
}
export interface RunDetail {
  id: string;
  state: string;
  reason?: string;
  rounds: RoundView[];
}

/**
 * The run ledger (`stage/round/state`, in order) of a completed demo plan with these round counts:
 * each round exactly once, the token-centring round opening the fine-tune stage, then the final
 * evaluation.
 */
export function completedLedger(plan: { sslRounds: number; finetuneRounds: number }): string[] {
  return [
    ...Array.from({ length: plan.sslRounds }, (_, i) => `ssl/${i}/done`),
    'finetune/10000/done',
    ...Array.from({ length: plan.finetuneRounds }, (_, i) => `finetune/${i}/done`),
    'evaluate/0/done',
  ];
}

/**
 * The tiny model's initial weights, made by dist/ (the code the agent processes run), so their
 * shapes are the agents' even while src/ moves on.
 */
export async function tinyInitialWeights(seed: number): Promise<Uint8Array> {
  const { initialWeights } = (await import(
    join(packageRoot(), 'dist', 'apps', 'cli', 'src', 'demo', 'initial-model.js')
  )) as typeof import('../../apps/cli/src/demo/initial-model');
  const { TINY_MODEL } = (await import(
    join(packageRoot(), 'dist', 'libs', 'model', 'src', 'network', 'config.js')
  )) as typeof import('../../libs/model/src/network/config');
  return initialWeights(TINY_MODEL, seed, { log: silentLog });
}
