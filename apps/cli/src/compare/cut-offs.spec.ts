import {
  chooseThreshold,
  chooseThresholdOfHistogram,
  metricsAtThreshold,
  scoreHistogram,
  shiftPrior,
  sumHistograms,
} from '../../../../libs/metrics/src';
import type { PatientSample } from '../../../../libs/model/src/training/types';
import type { NamedArray } from '../../../../libs/weights/src';
import {
  armCutOffs,
  atThreshold,
  cutOffSitesOf,
  pooledAtThreshold,
  Scorer,
  trainingPrevalence,
} from './cut-offs';
import { siteAggregates } from './evaluation';
import type { ArmModel, CompareSite } from './train-arms';

/** Patients' scores are float32, as a model's are. */
const f32 = Math.fround;

/** A fake model: its one tensor is an offset added to each patient's `x[0]` (the patient's "score"). */
const weights = (offset: number): NamedArray[] => [
  { name: 'offset', shape: [1], values: Float32Array.of(offset) },
];
const scorer: Scorer = (w, patients) =>
  Promise.resolve(Float32Array.from(patients, (p) => Math.min(1, Math.max(0, p.x[0] + w[0].values[0]))));

let n = 0;
const patient = (split: string, label: 0 | 1 | null, score: number): PatientSample => ({
  id: `p${n++}`,
  split,
  label,
  x: Float32Array.of(score),
});

/** Validation scores whose Youden cut-off is `cut` (cases from it up, controls below), plus train and test. */
function site(name: string, cut: number, external = false): CompareSite {
  return {
    site: name,
    dir: `/${name}`,
    external,
    samples: [
      patient('train', 1, 0.9),
      patient('train', 0, 0.1),
      patient('train', 0, 0.2),
      patient('train', null, 0.5),
      patient('val', 1, cut),
      patient('val', 1, Math.min(0.99, cut + 0.2)),
      patient('val', 0, cut - 0.05),
      patient('val', 0, cut - 0.3),
      patient('test', 1, 0.8),
      patient('test', 0, 0.3),
    ],
  };
}

describe('compare cut-offs (fixed on validation, transferred elsewhere)', () => {
  const a = site('a', 0.4);
  const b = site('b', 0.6);
  const noVal = { ...site('c', 0.5), samples: site('c', 0.5).samples.filter((p) => p.split !== 'val') };
  const ext = site('ext', 0.9, true);
  const plain: ArmModel = { shared: weights(0) };

  it('a training site fixes the cut-off on its own validation split; an external one gets it transferred', async () => {
    const cuts = await armCutOffs({ kind: 'central' }, plain, [a, b], [a, b, ext], scorer);
    expect(cuts.get('a')).toEqual({ threshold: f32(0.4), source: 'validation', from: ['a'], n_val: 4 });
    expect(cuts.get('b')).toMatchObject({ threshold: f32(0.6), source: 'validation', from: ['b'] });
    // External: Youden on a's and b's validation histograms summed — never on ext's own patients.
    const val = (s: CompareSite) => s.samples.filter((p) => p.split === 'val');
    const hist = (s: CompareSite) =>
      scoreHistogram(
        val(s).map((p) => p.label as number),
        val(s).map((p) => p.x[0]),
        1000,
      );
    const summed = chooseThresholdOfHistogram(sumHistograms([hist(a), hist(b)]).summed);
    expect(cuts.get('ext')).toEqual({ threshold: summed, source: 'transferred', from: ['a', 'b'], n_val: 8 });
    expect(summed).not.toBe(0.9);
  });

  it("a local-only model carries its own site's validation cut-off to every other site", async () => {
    expect(cutOffSitesOf({ kind: 'local', site: 'b' }, ['a', 'b'])).toEqual(['b']);
    const cuts = await armCutOffs({ kind: 'local', site: 'b' }, plain, [a, b], [a, b, ext], scorer);
    const own = chooseThreshold([1, 1, 0, 0], Float32Array.of(0.6, 0.8, 0.55, 0.3));
    expect(cuts.get('b')).toMatchObject({ threshold: own, source: 'validation' });
    expect(cuts.get('a')).toEqual({ threshold: own, source: 'transferred', from: ['b'], n_val: 4 });
    expect(cuts.get('ext')).toMatchObject({ threshold: own, source: 'transferred', from: ['b'] });
  });

  it('FedBN: each site chooses with its own weights, an external cohort with the shared ones', async () => {
    const fedbn: ArmModel = {
      shared: weights(0),
      bySite: new Map([
        ['a', weights(0.1)],
        ['b', weights(0.1)],
      ]),
    };
    const seen: number[] = [];
    const spy: Scorer = (w, p) => {
      seen.push(w[0].values[0]);
      return scorer(w, p);
    };
    const cuts = await armCutOffs({ kind: 'federated' }, fedbn, [a, b], [a, b, ext], spy);
    expect(cuts.get('a')!.threshold).toBeCloseTo(0.5, 6); // a's validation shifted by its own +0.1
    const plainCuts = await armCutOffs({ kind: 'federated' }, plain, [a, b], [ext], scorer);
    expect(cuts.get('ext')!.threshold).toBe(plainCuts.get('ext')!.threshold);
    // a and b scored once with their own weights and once with the shared ones (for ext); no more.
    expect(seen.sort()).toEqual([0, 0, 0.1, 0.1].map((x) => Math.fround(x)));
  });

  it('says why there is no cut-off instead of choosing one on the evaluated patients', async () => {
    const cuts = await armCutOffs({ kind: 'local', site: 'c' }, plain, [a, noVal], [noVal, ext], scorer);
    expect(cuts.get('c')).toMatchObject({
      threshold: null,
      n_val: 0,
      note: expect.stringMatching(/no validation/),
    });
    const at = atThreshold(cuts.get('ext')!, [1, 0], [0.9, 0.1], 0.3);
    expect(at).toMatchObject({ threshold: null, sensitivity: null, tp: null });
    // A site without a validation split of its own still gets the others' when it is not a trainer.
    const central = await armCutOffs({ kind: 'central' }, plain, [a, noVal], [ext], scorer);
    expect(central.get('ext')).toMatchObject({ from: ['a', 'c'], n_val: 4 });
  });

  it('classifies at the fixed cut-off, gives it as a risk at the training prevalence, and sums sites', () => {
    const labels = [1, 1, 1, 0, 0, 0];
    const scores = [0.9, 0.7, 0.3, 0.6, 0.2, 0.1];
    const cut = { threshold: 0.5, source: 'validation' as const, from: ['a'], n_val: 4 };
    const at = atThreshold(cut, labels, scores, 0.25);
    const m = metricsAtThreshold(labels, scores, 0.5);
    expect(at).toMatchObject({ tp: 2, fp: 1, tn: 2, fn: 1, sensitivity: m.sensitivity, ppv: m.ppv });
    expect(at.threshold_probability).toBeCloseTo(shiftPrior(0.5, 0.25), 12);
    expect(at.threshold_probability).toBeCloseTo(0.25, 12); // 0.5 on a balanced scale is the prior
    const pooled = pooledAtThreshold([at, at, { ...at, tp: null }])!;
    expect(pooled).toMatchObject({ sites: 2, tp: 4, fp: 2, tn: 4, fn: 2, accuracy: 8 / 12 });
  });

  it('the training prevalence is that of the arm’s labelled fine-tuning patients', () => {
    expect(trainingPrevalence({ kind: 'central' }, [a, b])).toBeCloseTo(2 / 6, 12);
    expect(trainingPrevalence({ kind: 'local', site: 'a' }, [a, b])).toBeCloseTo(1 / 3, 12);
  });

  it("a site's aggregates carry the 2×2 at each arm's cut-off and no patient's score", () => {
    const labels = [1, 1, 0, 0];
    const agg = siteAggregates(
      's',
      false,
      labels,
      new Map([['x', [0.91, 0.41, 0.45, 0.11]]]),
      [],
      new Map([
        [
          'x',
          {
            cutOff: { threshold: 0.4, source: 'validation', from: ['s'], n_val: 4 },
            trainingPrevalence: 0.5,
          },
        ],
      ]),
    );
    expect(agg.arms[0].at_threshold).toMatchObject({
      tp: 2,
      fn: 0,
      tn: 1,
      fp: 1,
      threshold_probability: 0.4,
    });
    expect(JSON.stringify(agg)).not.toMatch(/0\.91|0\.41|0\.45|0\.11/);
  });
});
