import * as tf from '@tensorflow/tfjs-core';
import { fastGeluSwitch, isMaskedGeluFused } from '../../../../libs/compute/src';
import { ModelConfig, PhccModel } from '../../../../libs/model/src/network';
import { AdamW, finetuneStep, sslStep } from '../../../../libs/model/src/training';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { classTotals, profileStep } from './kernel-classes';
import { median, StepTime, stepTime } from './model-fusion';
import { BenchFigures } from './suite';

/**
 * `bench model`'s before/after of the GELU helpers (issue #19; simd/gelu-wat.ts): the same
 * in-process step with `fastGeluSwitch` off (the previous tanh-form helpers) and on, alternated in
 * ABBA order round by round as model-dispatch-cuts.ts does. Per round and setting: plain steps
 * (CPU and wall time, images/s), then one profiled step whose GELU kernels (forward and gradient,
 * masked or not) give CPU ns per element written and per element computed (the masked kernels
 * skip masked rows, so they compute fewer elements than they write; since the SSL encoder's blocks
 * run on their kept rows, GELU computes what it writes there too). Off the wasm backend
 * with the SIMD helpers there is nothing to compare.
 */

type Setting = 'off' | 'on';

interface Sample extends StepTime {
  geluMs: number;
  written: number;
  computed: number;
  profiledMs: number;
}

/** Elements of a GELU call's output on kept rows: all of them unless the call is a masked one. */
function computedElements(k: { name: string; inputShapes: (number[] | null)[] }, keptShare: number): number {
  const x = k.inputShapes[0] ?? [];
  const size = x.reduce((p, q) => p * q, 1);
  return k.name.startsWith('PhccMaskedGelu') ? size * keptShare : size;
}

export async function geluComparison(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  const probe = tf.tidy(() => isMaskedGeluFused(tf.zeros([1, 4]), tf.ones([1, 1])));
  if (!probe) return {};
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const saved = fastGeluSwitch.fast;
  const run = (spec: StepSpec) => () =>
    spec.stage === 'ssl'
      ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
      : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
  // The share of patch positions SSL keeps is the share of rows its masked GELU kernels compute,
  // exactly, at every resolution (keepMapAt tiles each patch cell into a block).
  const keptShare =
    batches.ssl.stage === 'ssl'
      ? 1 - batches.ssl.batch.mask.reduce((t, m) => t + m, 0) / batches.ssl.batch.mask.length
      : 1;
  const figures: BenchFigures = {};
  try {
    for (const stage of ['ssl', 'finetune'] as const) {
      const spec = batches[stage];
      const step = run(spec);
      const images = spec.stage === 'ssl' ? spec.batch.count : spec.batch.count * config.phases;
      const samples: Record<Setting, Sample[]> = { off: [], on: [] };
      for (let r = 0; r < options.rounds; r++) {
        const order: Setting[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
        for (const setting of order) {
          fastGeluSwitch.fast = setting === 'on';
          const time = stepTime(options.steps, step);
          const profiled = await profileStep(step);
          const gelu = classTotals(profiled.kernels).gelu;
          const calls = profiled.kernels.filter((k) => k.name.includes('Gelu'));
          samples[setting].push({
            ...time,
            geluMs: gelu.ms,
            written: gelu.written,
            computed: calls.reduce((t, k) => t + computedElements(k, stage === 'ssl' ? keptShare : 1), 0),
            profiledMs: profiled.cpuMs,
          });
        }
      }
      const med = (s: Setting, f: (x: Sample) => number) => median(samples[s].map(f));
      const ratio = (f: (x: Sample) => number) => {
        const rs = samples.off.map((x, r) => f(x) / f(samples.on[r]));
        return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) };
      };
      const fmtRatio = (x: { median: number; min: number; max: number }) =>
        `${x.median.toFixed(2)}× (${x.min.toFixed(2)}–${x.max.toFixed(2)})`;
      const nsWritten = (x: Sample) => (x.geluMs * 1e6) / x.written;
      const nsComputed = (x: Sample) => (x.geluMs * 1e6) / x.computed;
      const share = (x: Sample) => x.geluMs / x.profiledMs;
      const perS = (ms: number) => (images * 1000) / ms;
      const cpu = ratio((x) => x.cpuMs);
      const wall = ratio((x) => x.wallMs);
      const gelu = ratio((x) => x.geluMs);
      options.print(
        `  GELU helpers (PHCC_FAST_GELU off → on), ${stage} step, 1 process, ${options.rounds} alternations: ` +
          `GELU ${med('off', nsWritten).toFixed(2)} → ${med('on', nsWritten).toFixed(2)} ns/element written ` +
          `(${med('off', nsComputed).toFixed(2)} → ${med('on', nsComputed).toFixed(2)} per element computed), ` +
          `${med('off', (x) => x.geluMs).toFixed(1)} → ${med('on', (x) => x.geluMs).toFixed(1)} ms, ${fmtRatio(gelu)}, ` +
          `${(100 * med('off', share)).toFixed(1)} → ${(100 * med('on', share)).toFixed(1)} % of the profiled step; ` +
          `step CPU ${med('off', (x) => x.cpuMs).toFixed(0)} → ${med('on', (x) => x.cpuMs).toFixed(0)} ms, ${fmtRatio(cpu)} ` +
          `(${perS(med('off', (x) => x.cpuMs)).toFixed(1)} → ${perS(med('on', (x) => x.cpuMs)).toFixed(1)} images/s); ` +
          `wall ${med('off', (x) => x.wallMs).toFixed(0)} → ${med('on', (x) => x.wallMs).toFixed(0)} ms, ${fmtRatio(wall)} ` +
          `(${perS(med('off', (x) => x.wallMs)).toFixed(1)} → ${perS(med('on', (x) => x.wallMs)).toFixed(1)} images/s)`,
      );
      const key = `model_fast_gelu_${stage}`;
      for (const s of ['off', 'on'] as const) {
        Object.assign(figures, {
          [`${key}_${s}_ns_per_element_written`]: med(s, nsWritten),
          [`${key}_${s}_ns_per_element_computed`]: med(s, nsComputed),
          [`${key}_${s}_gelu_cpu_ms`]: med(s, (x) => x.geluMs),
          [`${key}_${s}_gelu_share`]: med(s, share),
          [`${key}_${s}_cpu_ms`]: med(s, (x) => x.cpuMs),
          [`${key}_${s}_wall_ms`]: med(s, (x) => x.wallMs),
          [`${key}_${s}_images_per_s_cpu`]: perS(med(s, (x) => x.cpuMs)),
          [`${key}_${s}_images_per_s_wall`]: perS(med(s, (x) => x.wallMs)),
        });
      }
      Object.assign(figures, {
        [`${key}_gelu_speedup_cpu`]: gelu.median,
        [`${key}_speedup_cpu`]: cpu.median,
        [`${key}_speedup_wall`]: wall.median,
      });
    }
    return figures;
  } finally {
    fastGeluSwitch.fast = saved;
    optimizer.dispose();
    model.dispose();
  }
}
