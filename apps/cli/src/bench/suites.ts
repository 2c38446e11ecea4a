import type { BenchSuite } from './suite';

/** A suite as `phcc-fed bench` lists it; its code (`load`) is imported only when it runs. */
export interface BenchSuiteEntry {
  name: string;
  description: string;
  load(): Promise<BenchSuite>;
}

/**
 * Every benchmark suite, in the order `phcc-fed bench` runs them. One file per suite. Names and
 * descriptions live here, apart from the suites' code: that code loads TensorFlow.js (train, model,
 * dp-sgd), and `bench --help`, like every other command, must start without it.
 */
export const BENCH_SUITES: readonly BenchSuiteEntry[] = [
  {
    name: 'train',
    description: 'reference-CNN training speed per compute backend, wasm kernel breakdown, worker speed-up',
    load: async () => (await import('./train')).trainBench,
  },
  {
    name: 'metrics',
    description: 'AUC + DeLong CI on 1M scores, pooled histogram AUC, bootstrap',
    load: async () => (await import('./metrics')).metricsBench,
  },
  {
    name: 'imaging',
    description:
      'reading a 5-phase DICOM study, synthetic cohort generation (3 sites × 120 patients) and loading + preprocessing of one site',
    load: async () => (await import('./imaging')).imagingSuite,
  },
  {
    name: 'dicom',
    description: 'reading a 5-phase DICOM study (5 × 60 slices of 256 × 256) into one 4-D volume',
    load: async () => (await import('./dicom')).dicomBench,
  },
  {
    name: 'protocol',
    description: 'sign + verify a 50 MB update (SHA-512 digest + Ed25519), chunked socket.io transfer',
    load: async () => (await import('./protocol')).protocolBench,
  },
  {
    name: 'federation',
    description: 'coordinator time per round and RSS at 20, 100 and 1,000 sites (1M parameters)',
    load: async () => (await import('./federation')).federationSuite,
  },
  {
    name: 'model',
    description:
      'pHCC-SSL full-size training steps (SSL and fine-tune): images/s with 1 and 2 replicas, AdamW cost, projected train time',
    load: async () => (await import('./model')).modelBench,
  },
  {
    name: 'privacy',
    description: 'secure aggregation round time at 3, 20 and 100 sites, 1M parameters',
    load: async () => (await import('./privacy')).privacyBench,
  },
  {
    name: 'dp-sgd',
    description: 'record-level DP-SGD fine-tune step time ÷ the plain step, tiny and default model',
    load: async () => (await import('./dp-sgd')).dpSgdBench,
  },
  {
    name: 'startup',
    description:
      'fresh-process start of the wasm backend to the first SIMD kernel: helpers prebuilt at build time vs assembled from text',
    load: async () => (await import('./startup')).startupBench,
  },
];
