import * as tf from '@tensorflow/tfjs-core';
import {
  fusedDenseSwitch,
  maskedGeluSwitch,
  sharedSavesInstalled,
  sharedSavesSwitch,
} from '../../../../libs/compute/src';
import { keptRowsBlockSwitch, ModelConfig, PhccModel } from '../../../../libs/model/src/network';
import { AdamW, finetuneStep, sslStep } from '../../../../libs/model/src/training';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { median, StepTime, stepTime } from './model-fusion';
import { BenchFigures } from './suite';

/**
 * `bench model`'s before/after of the issue-#19 dispatch cuts, together and each behind its
 * switch: saved tensors shared without an `Identity` dispatch (libs/compute/src/wasm/shared-saves.ts;
 * `sharedSavesSwitch` off = tfjs's clone); the masked SSL encoder's GELU + mask multiply as one
 * kernel (kernels/PhccMaskedGelu.ts; `maskedGeluSwitch`); the dense layers as one dispatch each
 * way (kernels/PhccDense.ts; `fusedDenseSwitch`). The same in-process step with the switch off
 * and on, alternated round by round as model-fusion.ts does (in ABBA order); per stage the median
 * over rounds of off ÷ on step time (CPU and wall) and the dispatches (all, and Identity) one
 * step makes each way.
 */

/** One switch to compare: what it is called in the output and in the figures' keys. */
export interface Toggle {
  label: string;
  key: string;
  toggle: { enabled: boolean };
  /** The stages it changes (fine-tuning has no mask). */
  stages: readonly ('ssl' | 'finetune')[];
  /** Other switches held at a setting while it is compared (restored after). */
  holding?: readonly (readonly [{ enabled: boolean }, boolean])[];
}

const EACH = [sharedSavesSwitch, maskedGeluSwitch, fusedDenseSwitch];

/** All three switches as one (on only when all are). */
const allCuts = {
  get enabled(): boolean {
    return EACH.every((t) => t.enabled);
  },
  set enabled(on: boolean) {
    for (const t of EACH) t.enabled = on;
  },
};

/**
 * The masked GELU runs only where a block gathers rows per layer: with the kept-rows blocks
 * (libs/model/src/network/encoder.ts) GELU sees the kept rows alone, so it is compared without them.
 */
const PER_LAYER_ROWS = [[keptRowsBlockSwitch, false]] as const;

const TOGGLES: Toggle[] = [
  {
    label: 'all three cuts (per-layer rows)',
    key: 'dispatch_cuts',
    toggle: allCuts,
    stages: ['ssl', 'finetune'],
    holding: PER_LAYER_ROWS,
  },
  {
    label: 'saved tensors shared (no Identity dispatch)',
    key: 'shared_saves',
    toggle: sharedSavesSwitch,
    stages: ['ssl', 'finetune'],
  },
  {
    label: 'masked GELU kernel (per-layer rows)',
    key: 'masked_gelu',
    toggle: maskedGeluSwitch,
    stages: ['ssl'],
    holding: PER_LAYER_ROWS,
  },
  { label: 'one-dispatch dense', key: 'fused_dense', toggle: fusedDenseSwitch, stages: ['ssl', 'finetune'] },
];

/** Dispatches of one call as tf.profile records them (customGrad scopes left out), and Identity's. */
async function dispatches(step: () => unknown): Promise<{ all: number; identity: number }> {
  const info = await tf.profile(() => {
    step();
  });
  const kernels = info.kernels.filter((k) => k.name !== 'unnamed scope');
  return { all: kernels.length, identity: kernels.filter((k) => k.name === 'Identity').length };
}

export async function dispatchCutComparison(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  // Off the wasm backend neither cut applies: nothing to compare.
  if (!sharedSavesInstalled() || tf.getBackend() !== 'wasm') return {};
  const figures: BenchFigures = {};
  for (const toggle of TOGGLES) Object.assign(figures, await compareToggle(toggle, config, batches, options));
  return figures;
}

/** One switch off and on, alternated in one process: step time ratio and dispatches per stage. */
export async function compareToggle(
  { label, key, toggle, stages, holding = [] }: Toggle,
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const saved = toggle.enabled;
  const held = holding.map(([other]) => other.enabled);
  for (const [other, setting] of holding) other.enabled = setting;
  const run = (spec: StepSpec) => () =>
    spec.stage === 'ssl'
      ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
      : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
  const figures: BenchFigures = {};
  try {
    for (const stage of stages) {
      const step = run(batches[stage]);
      const times: Record<'off' | 'on', StepTime[]> = { off: [], on: [] };
      for (let r = 0; r < options.rounds; r++) {
        // Off first in even rounds, on first in odd ones: a drift within a round (GC, heap growth,
        // another process starting) then favours neither setting.
        const order = r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
        for (const setting of order) {
          toggle.enabled = setting === 'on';
          times[setting].push(stepTime(options.steps, step));
        }
      }
      const ratios = (key: keyof StepTime) => times.off.map((t, r) => t[key] / times.on[r][key]);
      const ms = (setting: 'off' | 'on', key: keyof StepTime) => median(times[setting].map((t) => t[key]));
      const summary = (key: keyof StepTime) => {
        const rs = ratios(key);
        return `${median(rs).toFixed(3)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
      };
      toggle.enabled = false;
      const off = await dispatches(step);
      toggle.enabled = true;
      const on = await dispatches(step);
      options.print(
        `  ${label}, ${stage} step, 1 process, ${options.rounds} alternations: ` +
          `CPU ${ms('off', 'cpuMs').toFixed(0)} → ${ms('on', 'cpuMs').toFixed(0)} ms, ${summary('cpuMs')}; wall ` +
          `${ms('off', 'wallMs').toFixed(0)} → ${ms('on', 'wallMs').toFixed(0)} ms, ${summary('wallMs')}; ` +
          `kernels per step ${off.all} → ${on.all} (Identity ${off.identity} → ${on.identity})`,
      );
      Object.assign(figures, {
        [`model_${key}_${stage}_off_cpu_ms`]: ms('off', 'cpuMs'),
        [`model_${key}_${stage}_on_cpu_ms`]: ms('on', 'cpuMs'),
        [`model_${key}_${stage}_speedup_cpu`]: median(ratios('cpuMs')),
        [`model_${key}_${stage}_speedup_wall`]: median(ratios('wallMs')),
        [`model_${key}_${stage}_kernels_off`]: off.all,
        [`model_${key}_${stage}_kernels_on`]: on.all,
      });
    }
    return figures;
  } finally {
    toggle.enabled = saved;
    holding.forEach(([other], i) => (other.enabled = held[i]));
    optimizer.dispose();
    model.dispose();
  }
}
