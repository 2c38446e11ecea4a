/**
 * Where a `--workers 2` step's wall time goes (issue #19): the pHCC-SSL SSL and fine-tune steps
 * at full size (the training defaults' batches), the in-process step and the sharded one
 * (`ShardedStepper`, main thread + 1 worker) alternating round by round in one process, so the
 * 2-replica ÷ 1-replica ratio is measured under the same load. Prints per phase the median over
 * the rounds and the process CPU time of each step (all threads), which a loaded machine
 * inflates less than wall time:
 *
 *   node bench/sharded-step/run.js [--rounds 7]
 *
 * Phases of a sharded step, in order: `read` (main copies its weights into the shared buffer),
 * the shards in parallel (`main` on the main thread; on the worker `post→start`, `write` the
 * shared weights into its model, `grad` forward + backward and the gradients written out), `queued` (the
 * worker's reply waiting while the main thread still computes: the worker idles), `wait` (the
 * main thread idles for the worker), then serially `combine` and `AdamW` on the main thread.
 */
import { availableParallelism, loadavg } from 'node:os';
import { Rng } from '../../libs/common/src';
import { initBackend } from '../../libs/compute/src';
import { modelConfig, PhccModel, randomPatchMask } from '../../libs/model/src/network';
import {
  AdamW,
  balancedClassWeights,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  DEFAULT_SSL_WEIGHTING,
  finetuneStep,
  sslStep,
} from '../../libs/model/src/training';
import { ShardedStepper } from '../../libs/model/src/training/parallel';
import { StepSpec } from '../../libs/model/src/training/shard';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function roundsArg(argv: string[]): number {
  const i = argv.indexOf('--rounds');
  if (i < 0) return 7;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--rounds must be a positive integer (got ${argv[i + 1]})`);
  return n;
}

function specs(): StepSpec[] {
  const config = modelConfig();
  const rng = new Rng(1);
  const plane = config.imageSize * config.imageSize * config.inChannels;
  const images = DEFAULT_SSL_OPTIONS.batchSize;
  const patients = DEFAULT_FINETUNE_OPTIONS.batchSize;
  return [
    {
      stage: 'ssl',
      batch: {
        images: Float32Array.from({ length: images * plane }, () => rng.normal()),
        mask: randomPatchMask(rng, images, config.imageSize / config.patchSize, config.maskRatio),
        count: images,
      },
      weighting: DEFAULT_SSL_WEIGHTING,
    },
    {
      stage: 'finetune',
      batch: {
        patients: Float32Array.from({ length: patients * config.phases * plane }, () => rng.normal()),
        labels: Float32Array.from({ length: patients }, (_, i) => i % 2),
        count: patients,
      },
      options: {
        classWeights: balancedClassWeights(1, 1),
        encoderLrScale: DEFAULT_FINETUNE_OPTIONS.encoderLrScale,
      },
    },
  ];
}

/** Wall and process CPU time (ms) of `f`. */
async function timed(f: () => unknown): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

async function main(): Promise<void> {
  const rounds = roundsArg(process.argv.slice(2));
  await initBackend({ backend: 'wasm' });
  const config = modelConfig();
  const stepper = await ShardedStepper.start({ replicas: 2, config });
  try {
    for (const spec of specs()) {
      const one = new PhccModel(config, 1);
      const oneOpt = new AdamW(one.params);
      const two = new PhccModel(config, 1);
      const twoOpt = new AdamW(two.params);
      const inProcess = () =>
        spec.stage === 'ssl'
          ? sslStep(one, oneOpt, spec.batch, spec.weighting, 1e-4)
          : finetuneStep(one, oneOpt, spec.batch, spec.options, 1e-4);
      const sharded = () => stepper.run(two, spec, twoOpt, 1e-4);
      inProcess();
      await sharded(); // warm-up: first kernels, optimiser moments, the balancer's first split
      const rows = new Map<string, number[]>();
      const add = (key: string, value: number) => rows.set(key, [...(rows.get(key) ?? []), value]);
      for (let r = 0; r < rounds; r++) {
        // Alternate which path goes first, so neither always follows the other's cache state.
        const order = r % 2 ? ['2', '1'] : ['1', '2'];
        for (const path of order) {
          const t = await timed(path === '1' ? inProcess : sharded);
          add(`${path}:wall`, t.wall);
          add(`${path}:cpu`, t.cpu);
        }
        const t = stepper.timing;
        const w = t.workers[0];
        add('read', t.readWeightsMs);
        add('main', t.computeMs[0]);
        add('post→start', w.receivedAt - w.postedAt);
        add('write', w.writeMs);
        add('grad', w.gradMs);
        add('queued', w.arrivedAt - w.sentAt);
        add('wait', t.waitMs);
        add('combine', t.combineMs);
        add('AdamW', t.applyMs);
        add('split', t.shardSizes[0]);
      }
      const items = spec.stage === 'ssl' ? spec.batch.count : spec.batch.count * config.phases;
      const ratio = (rows.get('1:wall') as number[]).map((w1, i) => w1 / (rows.get('2:wall') as number[])[i]);
      const cpuRatio = median(rows.get('2:cpu') as number[]) / median(rows.get('1:cpu') as number[]);
      const fmt = (x: number) => x.toFixed(1);
      console.log(
        `${spec.stage} (${items} images), load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')} on ` + `${availableParallelism()} cores, medians of ${rounds} rounds:`,
      );
      console.log(
        `  1 replica ${fmt(median(rows.get('1:wall') as number[]))} ms (CPU ${fmt(median(rows.get('1:cpu') as number[]))}), ` +
          `2 replicas ${fmt(median(rows.get('2:wall') as number[]))} ms (CPU ${fmt(median(rows.get('2:cpu') as number[]))}); ` +
          `speed-up ${median(ratio).toFixed(2)} (rounds ${ratio.map((x) => x.toFixed(2)).join(' ')}), ` +
          `CPU time 2 ÷ 1 replica ${cpuRatio.toFixed(2)}`,
      );
      const phases = ['read', 'main', 'post→start', 'write', 'grad', 'queued', 'wait', 'combine', 'AdamW'];
      console.log(
        `  sharded step, ms: ${phases.map((k) => `${k} ${fmt(median(rows.get(k) as number[]))}`).join(', ')}; ` +
          `main thread's shard ${median(rows.get('split') as number[])} of ${spec.batch.count}`,
      );
      [one, two].forEach((m) => m.dispose());
      [oneOpt, twoOpt].forEach((o) => o.dispose());
    }
  } finally {
    await stepper.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
