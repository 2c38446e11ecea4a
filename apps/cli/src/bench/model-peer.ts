import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelConfig, PhccModel } from '../../../../libs/model/src/network';
import {
  AdamW,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  finetuneStep,
  sslStep,
} from '../../../../libs/model/src/training';
import { ShardedStepper } from '../../../../libs/model/src/training/parallel';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import {
  PeerProcess,
  PeerStepOptions,
  RESIDENT_HEAP_ENV,
  requirePeerPython,
  StepTimes,
  writePeerBundle,
} from './peer';
import { BenchFigures } from './suite';
import { ThreadedSteps } from './threaded-steps';

/**
 * `bench model --peer`: our pHCC-SSL steps against the PyTorch peer (bench/peers/phcc_ssl.py) on
 * the same weights and batches, interleaved round by round so that load from other processes hits
 * every contestant alike. Per round and cell (stage × cores) it times ours, PyTorch as installed
 * and PyTorch with a resident heap — and, for SSL, PyTorch as installed with its pointwise layers
 * on the rows that count only, as ours — each the median of a few steps after a warm-up; the
 * figure is the median over rounds of ours ÷ PyTorch, with the range.
 */

type Stage = 'ssl' | 'finetune';
/**
 * torchRows: PyTorch as installed with the SSL step's pointwise layers on the rows that count only,
 * as ours (`skipRows` in the peer): the like-for-like figure, SSL cells only (fine-tune has no mask).
 */
/**
 * oursThreads: our step in one process with 2 intra-op threads (`--wasm-threads 2`, a worker thread
 * with its own threaded wasm backend), 2-core cells only; `ours` there is `--workers 2`.
 */
type Contestant = 'ours' | 'oursThreads' | 'torch' | 'torchTuned' | 'torchRows';
const CONTESTANTS: readonly Contestant[] = ['ours', 'oursThreads', 'torch', 'torchTuned', 'torchRows'];
const CELLS: readonly { stage: Stage; cores: number }[] = [
  { stage: 'ssl', cores: 1 },
  { stage: 'finetune', cores: 1 },
  { stage: 'ssl', cores: 2 },
  { stage: 'finetune', cores: 2 },
];
const LR = 1e-4;

export interface PeerRunOptions {
  print: (line: string) => void;
  quick: boolean;
  /** `--peer PYTHON`, or undefined to find one. */
  python?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Our steps: 1 core = the in-process step, 2 cores = `--workers 2` (main thread + 1 worker). */
class OurSteps {
  private constructor(
    private readonly model: PhccModel,
    private readonly optimizer: AdamW,
    private readonly stepper: ShardedStepper,
  ) {}

  static async start(model: PhccModel): Promise<OurSteps> {
    const stepper = await ShardedStepper.start({ replicas: 2, config: model.config, mainComputes: true });
    return new OurSteps(model, new AdamW(model.params), stepper);
  }

  /** Wall and CPU seconds of `steps` steps after one warm-up (as the peer's). */
  async time(spec: StepSpec, cores: number, steps: number): Promise<StepTimes> {
    const run = async () => {
      if (cores > 1) await this.stepper.run(this.model, spec, this.optimizer, LR);
      else if (spec.stage === 'ssl') sslStep(this.model, this.optimizer, spec.batch, spec.weighting, LR);
      else finetuneStep(this.model, this.optimizer, spec.batch, spec.options, LR);
    };
    await run();
    const times: StepTimes = { wall: [], cpu: [] };
    for (let i = 0; i < steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await run();
      times.wall.push((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(c0);
      times.cpu.push((cpu.user + cpu.system) / 1e6);
    }
    return times;
  }

  async close(): Promise<void> {
    await this.stepper.close();
    this.optimizer.dispose();
  }
}

/** Images/s per contestant, cell and round: by wall time, and by CPU time (1-core cells). */
type Samples = Record<Contestant, Map<string, number[]>>;
const cellKey = (c: { stage: Stage; cores: number }) => `${c.stage}${c.cores}`;

function push(samples: Map<string, number[]>, key: string, value: number): void {
  samples.set(key, [...(samples.get(key) ?? []), value]);
}

export async function runPeerComparison(
  config: ModelConfig,
  batches: { ssl: Extract<StepSpec, { stage: 'ssl' }>; finetune: Extract<StepSpec, { stage: 'finetune' }> },
  options: PeerRunOptions,
): Promise<BenchFigures> {
  const { print, quick } = options;
  const { python, torch: torchVersion } = requirePeerPython(options.python);
  const rounds = quick ? 2 : 4;
  const steps = quick ? 2 : 3;
  const dir = mkdtempSync(join(tmpdir(), 'phcc-peer-'));
  const model = new PhccModel(config, 1);
  const stepOptions: PeerStepOptions = {
    lr: LR,
    sslWeighting: batches.ssl.weighting,
    classWeights: batches.finetune.options.classWeights,
    encoderLrScale: batches.finetune.options.encoderLrScale ?? DEFAULT_FINETUNE_OPTIONS.encoderLrScale,
    weightDecay: DEFAULT_SSL_OPTIONS.weightDecay,
    clipNorm: DEFAULT_SSL_OPTIONS.clipNorm,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
  };
  writePeerBundle(dir, model, { ssl: batches.ssl.batch, finetune: batches.finetune.batch }, stepOptions);
  const peers: Record<Exclude<Contestant, 'ours' | 'oursThreads' | 'torchRows'>, PeerProcess> = {
    torch: await PeerProcess.start(python, dir, {}, 2),
    torchTuned: await PeerProcess.start(python, dir, RESIDENT_HEAP_ENV, 2),
  };
  const ours = await OurSteps.start(model);
  const oursThreads = await ThreadedSteps.start(config, 2, batches);
  const blas = peers.torch.blas;
  if (/\/blas\/libblas/.test(blas)) {
    // Debian's netlib reference BLAS: PyTorch's matmuls would be ≈ 9× slower than with OpenBLAS.
    print(
      `  warning: PyTorch runs on the reference BLAS (${blas}); install libopenblas0-openmp for a fair peer`,
    );
  }
  const emptySamples = (): Samples => ({
    ours: new Map(),
    oursThreads: new Map(),
    torch: new Map(),
    torchTuned: new Map(),
    torchRows: new Map(),
  });
  const samples = emptySamples();
  const cpuSamples = emptySamples();
  const loads: number[] = [];
  const images = (stage: Stage) =>
    stage === 'ssl' ? batches.ssl.batch.count : batches.finetune.batch.count * config.phases;
  print(
    `model --peer: PyTorch ${torchVersion} (${python}) on the same weights and batches, ${rounds} rounds ` +
      `interleaved, each the median of ${steps} steps after a warm-up; ${availableParallelism()} cores; BLAS ${blas}; ` +
      `2 cores = ours --workers 2 and ours --wasm-threads 2 (${oursThreads.helpers})`,
  );
  try {
    for (let round = 0; round < rounds; round++) {
      for (const cell of CELLS) {
        // Rotate who goes first, so no contestant always runs right after the same other one.
        const order = CONTESTANTS.map((_, i) => CONTESTANTS[(i + round) % CONTESTANTS.length]);
        for (const who of order) {
          if (who === 'torchRows' && cell.stage !== 'ssl') continue;
          if (who === 'oursThreads' && cell.cores === 1) continue;
          const times =
            who === 'ours'
              ? await ours.time(batches[cell.stage], cell.cores, steps)
              : who === 'oursThreads'
                ? await oursThreads.time(cell.stage, steps, LR)
                : who === 'torchRows'
                  ? await peers.torch.time(cell.stage, cell.cores, steps, true)
                  : await peers[who].time(cell.stage, cell.cores, steps);
          push(samples[who], cellKey(cell), images(cell.stage) / median(times.wall));
          push(cpuSamples[who], cellKey(cell), images(cell.stage) / median(times.cpu));
        }
      }
      loads.push(loadavg()[0]);
      print(`  round ${round + 1}/${rounds} done (load average ${loads.at(-1)?.toFixed(2)})`);
    }
  } finally {
    await ours.close();
    await oursThreads.close();
    await Promise.all(Object.values(peers).map((p) => p.close()));
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  return report(samples, cpuSamples, {
    print,
    loads,
    sslImages: batches.ssl.batch.count,
    patients: batches.finetune.batch.count,
  });
}

function report(
  samples: Samples,
  cpuSamples: Samples,
  ctx: { print: (line: string) => void; loads: number[]; sslImages: number; patients: number },
): BenchFigures {
  const figures: BenchFigures = { model_peer_load_average: ctx.loads };
  const fmt = (x: number, digits = 2) => x.toFixed(digits);
  ctx.print(
    '  step, cores | ours images/s | PyTorch as installed | PyTorch resident heap | ours ÷ installed (median, range) | ours ÷ resident | ' +
      'ours ÷ installed, its rows skipped as ours',
  );
  for (const cell of CELLS) {
    const key = cellKey(cell);
    const ours = samples.ours.get(key) ?? [];
    const ratio = (who: Contestant) => ours.map((x, i) => x / (samples[who].get(key) ?? [])[i]);
    const vsTorch = ratio('torch');
    const vsTuned = ratio('torchTuned');
    const vsRows = cell.stage === 'ssl' ? ratio('torchRows') : [];
    const range = (xs: number[]) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
    const label = cell.stage === 'ssl' ? `SSL ${ctx.sslImages} images` : `fine-tune ${ctx.patients} patients`;
    ctx.print(
      `  ${label}, ${cell.cores > 1 ? `${cell.cores} cores, --workers ${cell.cores}` : '1 core'} | ${fmt(median(ours), 1)} | ` +
        `${fmt(median(samples.torch.get(key) ?? []), 1)} | ${fmt(median(samples.torchTuned.get(key) ?? []), 1)} | ` +
        `${range(vsTorch)} | ${range(vsTuned)} | ${vsRows.length ? range(vsRows) : '– (no mask)'}`,
    );
    const prefix = `model_peer_${cell.stage}_${cell.cores}core`;
    figures[`${prefix}_ours_images_per_s`] = median(ours);
    figures[`${prefix}_torch_images_per_s`] = median(samples.torch.get(key) ?? []);
    figures[`${prefix}_torch_tuned_images_per_s`] = median(samples.torchTuned.get(key) ?? []);
    figures[`${prefix}_over_torch`] = median(vsTorch);
    figures[`${prefix}_over_torch_range`] = [Math.min(...vsTorch), Math.max(...vsTorch)];
    figures[`${prefix}_over_torch_tuned`] = median(vsTuned);
    figures[`${prefix}_over_torch_tuned_range`] = [Math.min(...vsTuned), Math.max(...vsTuned)];
    if (vsRows.length) {
      figures[`${prefix}_torch_rows_images_per_s`] = median(samples.torchRows.get(key) ?? []);
      figures[`${prefix}_over_torch_rows`] = median(vsRows);
      figures[`${prefix}_over_torch_rows_range`] = [Math.min(...vsRows), Math.max(...vsRows)];
    }
    if (cell.cores > 1) {
      // The same cell with our two cores as intra-op threads in one process instead of replicas.
      const threads = samples.oursThreads.get(key) ?? [];
      const over = (who: Contestant) => threads.map((x, i) => x / (samples[who].get(key) ?? [])[i]);
      const overTorch = over('torch');
      const overTuned = over('torchTuned');
      ctx.print(
        `  ${label}, 2 intra-op threads (--wasm-threads 2) | ${fmt(median(threads), 1)} | | | ${range(overTorch)} | ${range(overTuned)} | ` +
          (cell.stage === 'ssl' ? range(over('torchRows')) : '– (no mask)'),
      );
      figures[`${prefix}_threads_images_per_s`] = median(threads);
      figures[`${prefix}_threads_over_torch`] = median(overTorch);
      figures[`${prefix}_threads_over_torch_range`] = [Math.min(...overTorch), Math.max(...overTorch)];
      figures[`${prefix}_threads_over_torch_tuned`] = median(overTuned);
      figures[`${prefix}_threads_over_torch_tuned_range`] = [Math.min(...overTuned), Math.max(...overTuned)];
      figures[`${prefix}_threads_over_workers`] = median(threads.map((x, i) => x / ours[i]));
    }
  }
  // One core by CPU time: what each step costs its own process, whatever else the machine runs.
  for (const cell of CELLS.filter((c) => c.cores === 1)) {
    const key = cellKey(cell);
    const ours = cpuSamples.ours.get(key) ?? [];
    const vs = (who: Contestant) => median(ours.map((x, i) => x / (cpuSamples[who].get(key) ?? [])[i]));
    ctx.print(
      `  ${cell.stage}, 1 core, by CPU time: ours ${fmt(median(ours), 1)} images per CPU-second, ` +
        `PyTorch ${fmt(median(cpuSamples.torch.get(key) ?? []), 1)} (resident heap ` +
        `${fmt(median(cpuSamples.torchTuned.get(key) ?? []), 1)}); ours ÷ installed ${fmt(vs('torch'))}, ÷ resident ${fmt(vs('torchTuned'))}` +
        (cell.stage === 'ssl' ? `, ÷ installed with its rows skipped ${fmt(vs('torchRows'))}` : ''),
    );
    figures[`model_peer_${cell.stage}_1core_cpu_over_torch`] = vs('torch');
    figures[`model_peer_${cell.stage}_1core_cpu_over_torch_tuned`] = vs('torchTuned');
    if (cell.stage === 'ssl') figures.model_peer_ssl_1core_cpu_over_torch_rows = vs('torchRows');
  }
  // Two-core scaling of each side, from the same rounds.
  for (const stage of ['ssl', 'finetune'] as const) {
    const scale = (who: Contestant) =>
      median(samples[who].get(`${stage}2`) ?? []) /
      median(samples[who === 'oursThreads' ? 'ours' : who].get(`${stage}1`) ?? []);
    ctx.print(
      `  ${stage} 2-core speed-up: ours --workers 2 ${fmt(scale('ours'))}×, --wasm-threads 2 ${fmt(scale('oursThreads'))}×, ` +
        `PyTorch ${fmt(scale('torch'))}× ` +
        `(resident heap ${fmt(scale('torchTuned'))}×` +
        (stage === 'ssl' ? `, rows skipped ${fmt(scale('torchRows'))}×)` : ')'),
    );
    if (stage === 'ssl') figures.model_peer_ssl_speedup_torch_rows = scale('torchRows');
    figures[`model_peer_${stage}_speedup_ours`] = scale('ours');
    figures[`model_peer_${stage}_speedup_ours_threads`] = scale('oursThreads');
    figures[`model_peer_${stage}_speedup_torch`] = scale('torch');
    figures[`model_peer_${stage}_speedup_torch_tuned`] = scale('torchTuned');
  }
  return figures;
}
