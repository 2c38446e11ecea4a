import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../../../libs/common/src';
import {
  createReferenceCnn,
  DataParallelTrainer,
  HostBatch,
  randomReferenceBatch,
  ReferenceCnnConfig,
  referenceCnnFlops,
  referenceCnnModulePath,
  toTensors,
  TrainableModel,
  useBackend,
} from '../../../../libs/compute/src';
import { median } from './model-fusion';
import { PeerProcess, requirePeerPython, StepTimes, writeBundle } from './peer';
import { BenchFigures } from './suite';

/**
 * `bench train --peer`: the reference CNN on our wasm path against the same CNN in PyTorch
 * (bench/peers/reference_cnn.py), from the same weights and batch, interleaved round by round.
 * It answers issue #19's two reference-CNN figures in one run: our one-core training GFLOP/s
 * against PyTorch's on one thread (as installed: glibc's default allocator), and our
 * `--workers 2` speed-up (and `--wasm-threads 2`'s) against PyTorch's own two-thread speed-up.
 */
export const REFERENCE_PEER_SCRIPT = join(packageRoot(), 'bench', 'peers', 'reference_cnn.py');

/** The names the bundle gives our variables, in `createReferenceCnn`'s order. */
export function referenceCnnWeightNames(config: ReferenceCnnConfig): string[] {
  const convs = config.widths.map((_, i) => i);
  return [
    ...convs.map((i) => `conv${i}/kernel`),
    ...convs.map((i) => `conv${i}/bias`),
    'dense/kernel',
    'dense/bias',
  ];
}

/** What `reference_cnn.py check` prints; it also writes grads.bin and after_step.bin into the bundle. */
export interface ReferencePeerCheck {
  param_count: number;
  forward_macs: number;
  loss: number;
}

/** The reference CNN's bundle: our weights by name, one batch; the manifest holds config and rate. */
export function writeReferenceBundle(
  dir: string,
  config: ReferenceCnnConfig,
  model: TrainableModel,
  batch: HostBatch,
  lr: number,
): void {
  const names = referenceCnnWeightNames(config);
  if (names.length !== model.variables.length)
    throw new Error(`reference bundle: ${model.variables.length} variables for ${names.length} names`);
  const params = model.variables.map((v, i) => ({
    name: names[i],
    shape: v.shape,
    values: v.dataSync() as Float32Array,
  }));
  const inputs = [
    { name: 'x', shape: batch.x.shape, values: batch.x.values as Float32Array },
    { name: 'y', shape: batch.y.shape, values: Float32Array.from(batch.y.values) },
  ];
  writeBundle(dir, { params, inputs }, { config, lr });
}

/** oursThreads2: one replica whose wasm backend runs 2 intra-op threads (`--wasm-threads 2`), against oursWorkers1. */
type Contestant = 'ours1' | 'torch1' | 'oursWorkers1' | 'oursWorkers2' | 'oursThreads2' | 'torch2';
const CONTESTANTS: readonly Contestant[] = [
  'ours1',
  'torch1',
  'oursWorkers1',
  'oursWorkers2',
  'oursThreads2',
  'torch2',
];

export interface TrainPeerOptions {
  print: (line: string) => void;
  quick: boolean;
  python?: string;
  config: ReferenceCnnConfig;
  batchSize: number;
  learningRate: number;
}

export async function runTrainPeerComparison(options: TrainPeerOptions): Promise<BenchFigures> {
  const { print, quick, config, batchSize, learningRate } = options;
  const { python, torch: torchVersion } = requirePeerPython(options.python);
  const rounds = quick ? 2 : 4;
  const steps = quick ? 2 : 3;
  const host = randomReferenceBatch(config, batchSize, 1);
  const flops = referenceCnnFlops(config, batchSize).training;

  await useBackend('wasm');
  const model = createReferenceCnn(config);
  const optimizer = tf.train.sgd(learningRate);
  const batch = toTensors(host);
  const dir = mkdtempSync(join(tmpdir(), 'phcc-train-peer-'));
  writeReferenceBundle(dir, config, model, host, learningRate);
  const peer = await PeerProcess.start(python, dir, {}, 2, REFERENCE_PEER_SCRIPT);
  const trainer = (workers: number, threads = 1) =>
    DataParallelTrainer.start({
      workers,
      threads,
      model: { modulePath: referenceCnnModulePath(), config },
      optimizer: { kind: 'sgd', learningRate },
    });
  // threads2: the same one-replica messaging as workers[1], its two cores shared inside each call.
  const workers = { 1: await trainer(1), 2: await trainer(2), threads2: await trainer(1, 2) };

  const inProcess = async (n: number): Promise<StepTimes> => {
    const once = () => {
      const loss = optimizer.minimize(() => model.loss(batch), true, model.variables);
      loss?.dataSync();
      loss?.dispose();
    };
    once();
    const times: StepTimes = { wall: [], cpu: [] };
    for (let i = 0; i < n; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      once();
      times.wall.push((performance.now() - t0) / 1000);
      const cpu = process.cpuUsage(c0);
      times.cpu.push((cpu.user + cpu.system) / 1e6);
    }
    return times;
  };
  const withWorkers = async (k: keyof typeof workers, n: number): Promise<StepTimes> => {
    await workers[k].step(host);
    const times: StepTimes = { wall: [], cpu: [] };
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await workers[k].step(host);
      times.wall.push((performance.now() - t0) / 1000);
    }
    return times;
  };
  const time = (who: Contestant): Promise<StepTimes> => {
    switch (who) {
      case 'ours1':
        return inProcess(steps);
      case 'torch1':
        return peer.time('reference-cnn', 1, steps);
      case 'torch2':
        return peer.time('reference-cnn', 2, steps);
      case 'oursWorkers1':
        return withWorkers(1, steps);
      case 'oursWorkers2':
        return withWorkers(2, steps);
      case 'oursThreads2':
        return withWorkers('threads2', steps);
    }
  };

  print('');
  print(
    `train --peer: PyTorch ${torchVersion} (${python}, BLAS ${peer.blas}) on the same weights and batch, ` +
      `${rounds} rounds interleaved, each the median of ${steps} steps after a warm-up; ${availableParallelism()} cores`,
  );
  const gflops = new Map<Contestant, number[]>(CONTESTANTS.map((c) => [c, []]));
  const cpuGflops = new Map<Contestant, number[]>(CONTESTANTS.map((c) => [c, []]));
  const loads: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order = CONTESTANTS.map((_, i) => CONTESTANTS[(i + round) % CONTESTANTS.length]);
      for (const who of order) {
        const times = await time(who);
        gflops.get(who)!.push(flops / median(times.wall) / 1e9);
        if (times.cpu.length) cpuGflops.get(who)!.push(flops / median(times.cpu) / 1e9);
      }
      loads.push(loadavg()[0]);
      print(`  round ${round + 1}/${rounds} done (load average ${loads.at(-1)?.toFixed(2)})`);
    }
  } finally {
    await Promise.all([...Object.values(workers).map((w) => w.close()), peer.close()]);
    model.dispose();
    optimizer.dispose();
    tf.dispose(Object.values(batch));
    rmSync(dir, { recursive: true, force: true });
  }

  const fmt = (x: number, digits = 2) => x.toFixed(digits);
  const g = (who: Contestant) => gflops.get(who)!;
  const perRound = (a: number[], b: number[]) => a.map((x, i) => x / b[i]);
  const range = (xs: number[]) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  const oneCore = perRound(g('ours1'), g('torch1'));
  const oneCoreCpu = perRound(cpuGflops.get('ours1')!, cpuGflops.get('torch1')!);
  const ourSpeedup = perRound(g('oursWorkers2'), g('oursWorkers1'));
  const torchSpeedup = perRound(g('torch2'), g('torch1'));
  const speedupRatio = perRound(ourSpeedup, torchSpeedup);
  const threadsSpeedup = perRound(g('oursThreads2'), g('oursWorkers1'));
  const threadsRatio = perRound(threadsSpeedup, torchSpeedup);
  print(
    `  one core: ours ${fmt(median(g('ours1')), 1)} GFLOP/s, PyTorch one thread ${fmt(median(g('torch1')), 1)}; ` +
      `ours ÷ PyTorch ${range(oneCore)} (by CPU time ${fmt(median(oneCoreCpu))})`,
  );
  print(
    `  two cores: ours --workers 2 ÷ 1 worker ${range(ourSpeedup)}×, PyTorch 2 threads ÷ 1 ${range(torchSpeedup)}×; ` +
      `ours ÷ PyTorch's speed-up ${range(speedupRatio)}`,
  );
  print(
    `  two cores as intra-op threads: ours --wasm-threads 2 ÷ 1 thread ${range(threadsSpeedup)}×; ` +
      `÷ PyTorch's speed-up ${range(threadsRatio)}`,
  );
  print(`  targets (issue #19): one core ≥ 0.9× PyTorch as installed; speed-up ≥ 0.9× PyTorch's own`);
  return {
    train_peer_torch: torchVersion,
    train_peer_blas: peer.blas,
    train_peer_load_average: loads,
    train_peer_ours_gflops: median(g('ours1')),
    train_peer_torch_gflops: median(g('torch1')),
    train_peer_torch_2thread_gflops: median(g('torch2')),
    train_peer_wasm_over_torch: median(oneCore),
    train_peer_wasm_over_torch_range: [Math.min(...oneCore), Math.max(...oneCore)],
    train_peer_wasm_over_torch_cpu: median(oneCoreCpu),
    train_peer_workers_speedup_ours: median(ourSpeedup),
    train_peer_workers_speedup_torch: median(torchSpeedup),
    train_peer_speedup_over_torch: median(speedupRatio),
    train_peer_threads_speedup_ours: median(threadsSpeedup),
    train_peer_threads_speedup_over_torch: median(threadsRatio),
  };
}
