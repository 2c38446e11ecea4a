import { Log } from '../../../../libs/common/src';

/** Figures a suite reports; merged into the `--json` last line (keys are unique across suites). */
export type BenchFigures = Record<string, number | string | boolean | number[] | null>;

export interface BenchOptions {
  log: Log;
  /** Write a human-readable line to stdout. */
  print: (line: string) => void;
  /** Forced compute backend from `--backend`, if any. */
  backend?: string;
  /** `--quick`: fewer repetitions, for a smoke run. */
  quick: boolean;
  /**
   * `--peer [python]`: `bench model` and `bench train` run their PyTorch peer side by side (true =
   * find a Python with torch; a string names one). Other suites ignore it.
   */
  peer?: string | boolean;
}

/**
 * One benchmark family's code (`phcc-fed bench train`, `bench metrics`, …). Each measures its
 * baseline in the same run and reports ratios, because these machines are noisy. Its name and
 * description are in suites.ts, which loads this code only when the suite runs.
 */
export interface BenchSuite {
  run(options: BenchOptions): Promise<BenchFigures>;
}
