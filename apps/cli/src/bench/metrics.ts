import { Rng } from '../../../../libs/common/src';
import {
  bootstrapCi,
  delongCi,
  delongPairedTest,
  pooledAucFromHistograms,
  scoreHistogram,
} from '../../../../libs/metrics/src';
import { BenchFigures, BenchSuite } from './suite';

const N = 1_000_000;
const TARGET_S = 2;

/** Median wall time in seconds of `reps` runs (after one warm-up run). */
function timeMedian(reps: number, run: () => unknown): number {
  run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** 1M labelled scores with many ties (3 decimals), ~30 % positive, AUC ≈ 0.72. */
function makeScores(rng: Rng): {
  labels: Uint8Array;
  scores: Float64Array;
  second: Float64Array;
  probs: Float64Array;
} {
  const labels = new Uint8Array(N);
  const scores = new Float64Array(N);
  const second = new Float64Array(N);
  const probs = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const label = rng.bernoulli(0.3) ? 1 : 0;
    const x = rng.normal() + 0.8 * label;
    labels[i] = label;
    scores[i] = Math.round(x * 1000) / 1000;
    second[i] = Math.round((x + rng.normal(0, 0.7)) * 1000) / 1000;
    probs[i] = 1 / (1 + Math.exp(-x));
  }
  return { labels, scores, second, probs };
}

/**
 * `bench metrics`: AUC + DeLong CI on 1,000,000 scores against the 2 s target, as a multiple of a
 * plain Float64Array sort of the same data (the unavoidable part of any exact method); also the
 * paired test, the pooled AUC from four sites' histograms and a 2000-replicate bootstrap.
 */
export const metricsBench: BenchSuite = {
  async run({ print, quick }): Promise<BenchFigures> {
    const reps = quick ? 1 : 5;
    const data = makeScores(new Rng(2024));

    const sortS = timeMedian(reps, () => new Float64Array(data.scores).sort());
    const result = delongCi(data.labels, data.scores);
    const delongS = timeMedian(reps, () => delongCi(data.labels, data.scores));
    const pairedS = timeMedian(reps, () => delongPairedTest(data.labels, data.scores, data.second));

    const sites = 4;
    const per = N / sites;
    const pooledS = timeMedian(reps, () => {
      const hists = Array.from({ length: sites }, (_, k) => ({
        site: `site-${k + 1}`,
        ...scoreHistogram(
          data.labels.subarray(k * per, (k + 1) * per),
          data.probs.subarray(k * per, (k + 1) * per),
        ),
      }));
      return pooledAucFromHistograms(hists);
    });

    const small = 1000;
    const bootS = timeMedian(quick ? 1 : 3, () =>
      bootstrapCi(data.labels.subarray(0, small), data.scores.subarray(0, small), {
        replicates: 2000,
        seed: 1,
      }),
    );

    print(
      `  1,000,000 scores (3-decimal ties), ${result.nPos} positive, AUC ${result.auc.toFixed(4)} ` +
        `[${result.ci[0].toFixed(4)}, ${result.ci[1].toFixed(4)}]; median of ${reps}`,
    );
    print(`  baseline: Float64Array sort of 1M          ${sortS.toFixed(3)} s`);
    print(
      `  AUC + DeLong CI, 1M                        ${delongS.toFixed(3)} s  = ${(delongS / sortS).toFixed(1)}× a sort; ` +
        `target < ${TARGET_S} s: ${delongS < TARGET_S ? 'met' : 'NOT met'} (${(delongS / TARGET_S).toFixed(2)} of target)`,
    );
    print(
      `  paired DeLong test, 2 × 1M                 ${pairedS.toFixed(3)} s  = ${(pairedS / sortS).toFixed(1)}× a sort`,
    );
    print(
      `  pooled AUC from 4 sites' histograms, 1M    ${pooledS.toFixed(3)} s  = ${(pooledS / sortS).toFixed(1)}× a sort`,
    );
    print(`  stratified bootstrap, 2000 × 1000 cases    ${bootS.toFixed(3)} s`);
    return {
      metrics_sort_1m_s: sortS,
      metrics_auc_delong_1m_s: delongS,
      metrics_auc_delong_over_sort: delongS / sortS,
      metrics_auc_delong_target_s: TARGET_S,
      metrics_auc_delong_meets_target: delongS < TARGET_S,
      metrics_paired_delong_1m_s: pairedS,
      metrics_pooled_hist_1m_s: pooledS,
      metrics_bootstrap_2000x1000_s: bootS,
    };
  },
};
