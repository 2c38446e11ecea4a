import { BenchSuite } from './suite';

/** Every benchmark suite, in the order `phcc-fed bench` runs them. One file per suite. */
export const BENCH_SUITES: BenchSuite[] = [];
