import * as tf from '@tensorflow/tfjs-core';
import { fusedNormSwitch } from '../../../../libs/compute/src';
import { ModelConfig, PhccModel } from '../../../../libs/model/src/network';
import { AdamW, finetuneStep, sslStep } from '../../../../libs/model/src/training';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { BenchFigures } from './suite';

/**
 * `bench model`'s before/after of the fused LayerNorm and GRN kernels (issue #19): the same
 * in-process step with `fusedNormSwitch` off (the composed closed-form ops) and on, alternated
 * round by round so that load from other processes hits both alike; per stage the median over
 * rounds of off ÷ on step time (CPU time, which a loaded machine distorts least, and wall time),
 * and the kernels one step dispatches each way.
 */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Kernels one call dispatches, as tfjs's profiler records them (customGrad's own scopes left out). */
export async function kernelCount(step: () => unknown): Promise<number> {
  const info = await tf.profile(() => {
    step();
  });
  return info.kernels.filter((k) => k.name !== 'unnamed scope').length;
}

/** A step's wall and CPU time (ms): CPU time is what it costs alone on a loaded machine. */
export interface StepTime {
  wallMs: number;
  cpuMs: number;
}

/** Median wall and CPU ms of `steps` calls after one warm-up (wasm runs on this one thread). */
export function stepTime(steps: number, step: () => unknown): StepTime {
  step();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    wall.push(performance.now() - t0);
  }
  return { wallMs: median(wall), cpuMs: median(cpu) };
}

export async function fusedNormComparison(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const saved = fusedNormSwitch.enabled;
  const run = (spec: StepSpec) => () =>
    spec.stage === 'ssl'
      ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
      : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
  const figures: BenchFigures = {};
  try {
    for (const stage of ['ssl', 'finetune'] as const) {
      const step = run(batches[stage]);
      const times: Record<'off' | 'on', StepTime[]> = { off: [], on: [] };
      for (let r = 0; r < options.rounds; r++) {
        for (const setting of ['off', 'on'] as const) {
          fusedNormSwitch.enabled = setting === 'on';
          times[setting].push(stepTime(options.steps, step));
        }
      }
      const ratios = (key: keyof StepTime) => times.off.map((t, r) => t[key] / times.on[r][key]);
      const ms = (setting: 'off' | 'on', key: keyof StepTime) => median(times[setting].map((t) => t[key]));
      const summary = (key: keyof StepTime) => {
        const rs = ratios(key);
        return `${median(rs).toFixed(2)}× (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
      };
      fusedNormSwitch.enabled = false;
      const kernelsOff = await kernelCount(step);
      fusedNormSwitch.enabled = true;
      const kernelsOn = await kernelCount(step);
      options.print(
        `  fused LayerNorm + GRN, ${stage} step, 1 process, ${options.rounds} alternations: CPU ` +
          `${ms('off', 'cpuMs').toFixed(0)} → ${ms('on', 'cpuMs').toFixed(0)} ms, ${summary('cpuMs')}; wall ` +
          `${ms('off', 'wallMs').toFixed(0)} → ${ms('on', 'wallMs').toFixed(0)} ms, ${summary('wallMs')}; ` +
          `kernels per step ${kernelsOff} → ${kernelsOn}`,
      );
      Object.assign(figures, {
        [`model_fused_norms_${stage}_composed_cpu_ms`]: ms('off', 'cpuMs'),
        [`model_fused_norms_${stage}_fused_cpu_ms`]: ms('on', 'cpuMs'),
        [`model_fused_norms_${stage}_speedup_cpu`]: median(ratios('cpuMs')),
        [`model_fused_norms_${stage}_speedup_wall`]: median(ratios('wallMs')),
        [`model_fused_norms_${stage}_kernels_composed`]: kernelsOff,
        [`model_fused_norms_${stage}_kernels_fused`]: kernelsOn,
      });
    }
    return figures;
  } finally {
    fusedNormSwitch.enabled = saved;
    optimizer.dispose();
    model.dispose();
  }
}
