import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { ModelConfig, PhccModel } from '../../../../libs/model/src/network';
import { AdamW, finetuneStep, sslStep } from '../../../../libs/model/src/training';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import {
  KERNEL_CLASSES,
  KernelClass,
  kernelClass,
  kernelElements,
  kernelFlops,
  KernelShapes,
} from './kernel-flops';
import { BenchFigures } from './suite';

/**
 * `bench model`'s kernel-class table (issue #19): where one SSL and one fine-tune step at 1 core
 * spend their time, by kernel class, and how close each GEMM-like class comes to the wasm GEMM's
 * ceiling (a 1024³ matmul through the same BatchMatMul kernel, so the same packed GEMM and FMA
 * variant), measured interleaved in the same run: per round and stage a few plain timed steps,
 * then one separately profiled step between two runs of the ceiling, whose mean is that step's
 * ceiling (load and cache contention drift within seconds here). Kernel times come from
 * `tf.profile`, each kernel call timed alone (the profiler's bookkeeping between kernels never
 * enters one), by this process's CPU time: on a VM shared with other work, wall time counts other
 * processes' slices into whatever they interrupt, CPU time far less (model-fusion.ts reasons the
 * same way). Shares are of the profiled step's own CPU time; the plain steps, run without the
 * profiler, give the wall time a user gets. Ratios are taken per profiled step; their median over
 * rounds is reported.
 */

const CEILING_SIZE = 1024;
type Stage = 'ssl' | 'finetune';
const STAGES: readonly Stage[] = ['ssl', 'finetune'];
/** Float32 elements: the profiler records shapes, not dtypes; casts and masks may move fewer bytes. */
const BYTES_PER_ELEMENT = 4;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One class's totals in one profiled step. */
interface ClassTotals {
  calls: number;
  ms: number;
  flops: number;
  written: number;
  read: number;
}

type StepProfile = Record<KernelClass, ClassTotals>;

/** Sums a profiled step's kernel records by class (pure: the unit test feeds it records). */
export function classTotals(kernels: (KernelShapes & { ms: number })[]): StepProfile {
  const totals = Object.fromEntries(
    KERNEL_CLASSES.map((c) => [c.id, { calls: 0, ms: 0, flops: 0, written: 0, read: 0 }]),
  ) as StepProfile;
  for (const k of kernels) {
    const t = totals[kernelClass(k)];
    const elements = kernelElements(k);
    t.calls += 1;
    t.ms += k.ms;
    t.flops += kernelFlops(k);
    t.written += elements.written;
    t.read += elements.read;
  }
  return totals;
}

/** CPU ms (user + system, microsecond resolution) of a synchronous call. */
function cpuMs(f: () => unknown): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** GFLOP/s of a 1024³ float32 matmul on this backend by CPU time: median of `reps` after a warm-up. */
function gemmCeiling(reps: number): number {
  const n = CEILING_SIZE;
  const a = tf.randomUniform([n, n], -1, 1, 'float32', 1);
  const b = tf.randomUniform([n, n], -1, 1, 'float32', 2);
  // wasm kernels run synchronously: the product is computed when matMul returns.
  const once = () => cpuMs(() => tf.matMul(a, b).dispose());
  once();
  const ms = median(Array.from({ length: reps }, once));
  tf.dispose([a, b]);
  return (2 * n ** 3) / (ms / 1000) / 1e9;
}

/** The profiler's timer: tfjs-core calls `time(f)` on the backend object around every kernel. */
interface KernelTimer {
  time(f: () => void): Promise<{ kernelMs: number }>;
}

/**
 * The kernels of one profiled call with their CPU times; scope records (customGrad's, which wrap
 * kernels recorded on their own) are left out, so no time is counted twice. The wasm backend's
 * own timer reads the wall clock, which on this shared VM counts other processes' time slices
 * into whichever kernel they interrupt; for this one call it reads this process's CPU time
 * instead (wasm runs on this thread; the kernels are synchronous).
 */
export async function profileStep(
  step: () => unknown,
): Promise<{ cpuMs: number; kernels: (KernelShapes & { ms: number })[] }> {
  const backend = tf.getBackend();
  const timer = tf.backend() as unknown as KernelTimer;
  const ownTime = Object.prototype.hasOwnProperty.call(timer, 'time');
  const saved = timer.time;
  let stepCpuMs = 0;
  let info: Awaited<ReturnType<typeof tf.profile>>;
  timer.time = async (f) => ({ kernelMs: cpuMs(f) });
  try {
    info = await tf.profile(() => {
      stepCpuMs = cpuMs(step);
    });
  } finally {
    if (ownTime) timer.time = saved;
    else delete (timer as Partial<KernelTimer>).time;
  }
  const kernels: (KernelShapes & { ms: number })[] = [];
  for (const k of info.kernels) {
    if (!tf.getKernel(k.name, backend)) continue;
    const time = await k.kernelTimeMs;
    if (typeof time !== 'number') throw new Error(`tf.profile gave no time for ${k.name}: ${time.error}`);
    kernels.push({ name: k.name, inputShapes: k.inputShapes, outputShapes: k.outputShapes, ms: time });
  }
  return { cpuMs: stepCpuMs, kernels };
}

/** Median wall ms of `steps` plain (unprofiled) steps. */
function stepMs(steps: number, step: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return median(times);
}

interface Round {
  /** Per stage, the ceiling around its profiled step: the mean of a run just before and just after. */
  ceiling: Record<Stage, number>;
  /** Every ceiling sample of the round. */
  ceilingSamples: number[];
  /** Plain steps' median wall ms: the speed a user gets. */
  stepMs: Record<Stage, number>;
  /** The profiled step's CPU ms, the shares' denominator. */
  profiledMs: Record<Stage, number>;
  profile: Record<Stage, StepProfile>;
}

export async function kernelClassTable(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { quick: boolean; print: (line: string) => void; helpers?: string },
): Promise<BenchFigures> {
  // This VM's load comes and goes: more short rounds beat fewer long ones.
  const rounds = options.quick ? 1 : 5;
  const steps = options.quick ? 1 : 2;
  const ceilingReps = 3;
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const run = (spec: StepSpec) => () =>
    spec.stage === 'ssl'
      ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
      : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
  const results: Round[] = [];
  try {
    // Warm-up: kernel set-up, packed-operand caches, the optimiser's moments.
    for (const stage of STAGES) run(batches[stage])();
    for (let r = 0; r < rounds; r++) {
      const round: Round = {
        ceiling: { ssl: 0, finetune: 0 },
        ceilingSamples: [],
        stepMs: { ssl: 0, finetune: 0 },
        profiledMs: { ssl: 0, finetune: 0 },
        profile: {} as Record<Stage, StepProfile>,
      };
      for (const stage of STAGES) {
        const step = run(batches[stage]);
        round.stepMs[stage] = stepMs(steps, step);
        const before = gemmCeiling(ceilingReps);
        const profiled = await profileStep(step);
        const after = gemmCeiling(ceilingReps);
        round.ceiling[stage] = (before + after) / 2;
        round.ceilingSamples.push(before, after);
        round.profiledMs[stage] = profiled.cpuMs;
        round.profile[stage] = classTotals(profiled.kernels);
      }
      results.push(round);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  return report(results, batches, options);
}

const kernelSum = (profile: StepProfile) => KERNEL_CLASSES.reduce((t, c) => t + profile[c.id].ms, 0);

function report(
  rounds: Round[],
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { print: (line: string) => void; helpers?: string },
): BenchFigures {
  const { print } = options;
  const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
  const range = (xs: number[], digits: number) =>
    `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;
  const ceilings = rounds.flatMap((r) => r.ceilingSamples);
  const ceiling = median(ceilings);
  const figures: BenchFigures = {
    model_kernel_ceiling_gflops: ceiling,
    model_kernel_ceiling_range: [Math.min(...ceilings), Math.max(...ceilings)],
    model_kernel_classes_rounds: rounds.length,
    model_kernel_classes_load_average: loadavg()[0],
  };
  print(
    `model: kernel classes, 1 core, ${rounds.length} round${rounds.length > 1 ? 's' : ''} (each, per stage: ` +
      `plain steps, then one profiled step between two ceiling runs; medians over rounds, ratios to the ` +
      `bracketing ceiling). wasm GEMM ceiling, ` +
      `${CEILING_SIZE}³ matmul through the same BatchMatMul: ${fmt(ceiling, 2)} GFLOP/s by CPU time (${range(ceilings, 2)}; ` +
      `${options.helpers ?? 'helpers unknown'}); load average ${fmt(loadavg()[0], 2)}`,
  );
  for (const stage of STAGES) {
    const spec = batches[stage];
    const what = spec.stage === 'ssl' ? `${spec.batch.count} images` : `${spec.batch.count} patients`;
    const stepMs = median(rounds.map((r) => r.stepMs[stage]));
    const profiledMs = median(rounds.map((r) => r.profiledMs[stage]));
    const kernelMs = median(rounds.map((r) => kernelSum(r.profile[stage])));
    // Shares are of the profiled step's CPU time; what lies outside kernels there includes the
    // profiler's own bookkeeping.
    const outsideShare = median(rounds.map((r) => 1 - kernelSum(r.profile[stage]) / r.profiledMs[stage]));
    print(
      `  ${stage === 'ssl' ? 'SSL' : 'fine-tune'} step (${what}): ${fmt(stepMs, 0)} ms wall unprofiled; the profiled ` +
        `step ${fmt(profiledMs, 0)} ms CPU, ${fmt(kernelMs, 0)} ms of it in kernels`,
    );
    print(
      '    class | calls | CPU ms | share of step | GFLOP | GFLOP/s | ÷ ceiling (range) | GB/s | ns/element written',
    );
    const prefix = `model_kernel_class_${stage}`;
    figures[`${prefix}_step_wall_ms`] = stepMs;
    figures[`${prefix}_profiled_step_cpu_ms`] = profiledMs;
    for (const c of KERNEL_CLASSES) {
      const per = rounds.map((r) => ({
        t: r.profile[stage][c.id],
        stepCpuMs: r.profiledMs[stage],
        ceiling: r.ceiling[stage],
      }));
      const calls = per[0].t.calls;
      if (calls === 0) continue;
      const flops = per[0].t.flops;
      const ms = median(per.map((p) => p.t.ms));
      const share = median(per.map((p) => p.t.ms / p.stepCpuMs));
      const gflops = median(per.map((p) => p.t.flops / p.t.ms / 1e6));
      const ofCeilingPerRound = per.map((p) => p.t.flops / p.t.ms / 1e6 / p.ceiling);
      const ofCeiling = median(ofCeilingPerRound);
      const gbs = median(per.map((p) => ((p.t.read + p.t.written) * BYTES_PER_ELEMENT) / p.t.ms / 1e6));
      const nsPerElement = median(per.map((p) => (p.t.ms * 1e6) / p.t.written));
      print(
        `    ${c.label} | ${calls} | ${fmt(ms)} | ${fmt(100 * share, 1)} % | ` +
          (c.compute
            ? `${fmt(flops / 1e9, 2)} | ${fmt(gflops, 2)} | ${fmt(100 * ofCeiling, 0)} % ` +
              `(${range(
                ofCeilingPerRound.map((x) => 100 * x),
                0,
              )} %) | – | –`
            : `– | – | – | ${fmt(gbs, 2)} | ${fmt(nsPerElement, 2)}`),
      );
      const key = `${prefix}_${c.id}`;
      figures[`${key}_calls`] = calls;
      figures[`${key}_cpu_ms`] = ms;
      figures[`${key}_share`] = share;
      if (c.compute) {
        figures[`${key}_gflop`] = flops / 1e9;
        figures[`${key}_gflops`] = gflops;
        figures[`${key}_of_ceiling`] = ofCeiling;
        figures[`${key}_of_ceiling_range`] = [Math.min(...ofCeilingPerRound), Math.max(...ofCeilingPerRound)];
      } else {
        figures[`${key}_gb_per_s`] = gbs;
        figures[`${key}_ns_per_element`] = nsPerElement;
      }
    }
    print(
      `    outside kernels (engine dispatch and tape, the optimiser's bookkeeping, the profiler's) | – | ` +
        `${fmt(profiledMs * outsideShare)} | ${fmt(100 * outsideShare, 1)} % | – | – | – | – | –`,
    );
    figures[`${prefix}_outside_kernels_share`] = outsideShare;
  }
  return figures;
}
